"""video-decorruptor: repair corrupted video before a model looks at it."""

from image_core import __version__

__all__ = ["__version__"]
