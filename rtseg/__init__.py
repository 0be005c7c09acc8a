"""rtseg: real-time video segmentation pipelines (capture → segment → composite → output).

>>> import rtseg
>>> rtseg.__version__  # doctest: +ELLIPSIS
'0.1...'
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rtseg")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0+local"

__all__ = ["__version__"]
