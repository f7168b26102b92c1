"""Single-image core of video-decorruptor: corruptions, corruption modeling, the Decorruptor editor."""

from image_core.corruptions import corrupt, corruption_names

__all__ = ["corrupt", "corruption_names"]
__version__ = "0.1.0"
