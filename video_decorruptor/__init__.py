"""video-decorruptor: repair corrupted video before a model looks at it."""

from image_core import __version__

__all__ = ["ConsistencySettings", "VideoDecorruptor", "__version__"]


def __getattr__(name: str):
    # Lazy: `video-decorruptor --help` should not pay for importing torch and diffusers.
    if name in ("VideoDecorruptor", "ConsistencySettings"):
        from video_decorruptor import restore

        return getattr(restore, name)
    raise AttributeError(f"module 'video_decorruptor' has no attribute {name!r}")
