#!/usr/bin/env python
"""Make rtseg's bundled sample clip (``rtseg/sources/media/sample.mp4``) from the shared gallery clip.

The first 4 seconds of ``05_default_juggle.mp4`` (facebookresearch/sam2 ``demo/data/gallery/``,
Apache-2.0 repository) scaled to 640x360 and encoded as H.264 with PyAV. Run from the repository:
``python scripts/make-sample.py [SOURCE] [OUTPUT]``.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "gallery" / "05_default_juggle.mp4"
OUTPUT = ROOT / "rtseg" / "sources" / "media" / "sample.mp4"
SECONDS = 4
SIZE = (640, 360)


def main(source: Path = SOURCE, output: Path = OUTPUT) -> None:
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        fps = Fraction(stream.average_rate or 24)
        wanted = range(int(fps * SECONDS))
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(wanted, src.decode(stream), strict=False)]
    with av.open(str(output), "w") as dst:
        out = dst.add_stream("libx264", rate=fps, options={"crf": "26", "preset": "slow"})
        out.width, out.height, out.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for i, rgb in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(cv2.resize(rgb, SIZE, interpolation=cv2.INTER_AREA), format="rgb24")
            vf.pts = i
            for packet in out.encode(vf):
                dst.mux(packet)
        for packet in out.encode(None):
            dst.mux(packet)
    print(f"wrote {output} ({len(frames)} frames, {output.stat().st_size} bytes)")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:3]))
