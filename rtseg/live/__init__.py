"""Live mode: camera (or real-time replay) → segment behind a flow limiter → composite → virtual camera,
preview and recording, with hotkeys and telemetry. See :mod:`rtseg.live.pipeline` for the graph.

Submodules are imported on use (``from rtseg.live.pipeline import LiveSession``), so importing
``rtseg.live`` loads nothing heavy.
"""
