"""Restoring video: the restorer (``VideoDecorruptor``), its presets, temporal fusion by optical flow,
and the consistency mechanisms (anchor attention, latent smoothing). Imports only ``io`` below it."""

from video_decorruptor.restore.presets import PRESETS, ConsistencySettings, RestorerConfig, VideoPreset, get_preset

__all__ = [
    "PRESETS",
    "ConsistencySettings",
    "RestorerConfig",
    "VideoDecorruptor",
    "VideoPreset",
    "get_preset",
    "resolve_settings",
]


def __getattr__(name: str):
    # Lazy: the presets serve the command line's options without importing torch and diffusers.
    if name in ("VideoDecorruptor", "resolve_settings"):
        from video_decorruptor.restore import restorer

        return getattr(restorer, name)
    raise AttributeError(f"module 'video_decorruptor.restore' has no attribute {name!r}")
