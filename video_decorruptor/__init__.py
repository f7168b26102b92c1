"""video-decorruptor: repair corrupted video before a model looks at it.

Sub-packages follow the data flow, and imports run downward only: ``io`` (decode, encode) <-
``restore`` (the restorer, presets, fusion, consistency) <- ``recognition`` (classifiers, TENT) <-
``benchmark`` (corruptions, UCF-101C, evaluation, metrics) <- ``cli``, ``options``, ``demo``.
"""

from image_core import __version__

__all__ = ["ConsistencySettings", "VideoDecorruptor", "__version__"]


def __getattr__(name: str):
    # Lazy: `video-decorruptor --help` should not pay for importing torch and diffusers.
    if name in ("VideoDecorruptor", "ConsistencySettings"):
        from video_decorruptor.restore import restorer

        return getattr(restorer, name)
    raise AttributeError(f"module 'video_decorruptor' has no attribute {name!r}")
