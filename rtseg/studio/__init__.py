"""``rtseg studio``: a local web app to pick and correct objects by clicking, propagate, and export.

The page and its script ship in ``static/`` (no build step, no CDN); :func:`create_app` is the
FastAPI app, :class:`~rtseg.studio.session.StudioSession` one open video.
"""

from __future__ import annotations
