"""The installed version of rtseg (its own module, so any layer can read it without importing the API)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rtseg")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0+local"
