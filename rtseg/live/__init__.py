"""Live mode: camera (or real-time replay) → segment behind a flow limiter → carry-forward (the newest
mask moved to each frame by optical flow) → composite → virtual camera, preview and recording, with
hotkeys, click-to-track (SAM 2), adaptive inference rate and telemetry. See :mod:`rtseg.live.pipeline`
for the graph.

Submodules are imported on use (``from rtseg.live.pipeline import LiveSession``), so importing
``rtseg.live`` loads nothing heavy.
"""
