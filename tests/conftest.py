import numpy as np
import pytest

from image_core.sources import sample_photo


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A 96x96 crop of a real photo: textures and flat regions, so severities are comparable."""
    return sample_photo(96)


def moving_clip(num_frames: int = 12, height: int = 64, width: int = 80, seed: int = 0) -> np.ndarray:
    """A camera pan over a real photo: (T, H, W, 3) uint8 with real motion and texture."""
    photo = sample_photo(max(height, width) + 3 * num_frames)
    rng = np.random.default_rng(seed)
    top = int(rng.integers(0, photo.shape[0] - height))
    return np.stack([photo[top : top + height, 3 * t : 3 * t + width] for t in range(num_frames)])


@pytest.fixture(scope="session")
def clip() -> np.ndarray:
    return moving_clip()


def write_clip_with_audio(path, frames: int = 10):
    """An H.264 clip with a 440 Hz AAC tone, written with PyAV."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        for frame in moving_clip(frames, 48, 64):
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(16000 * frames / 25)) / 16000)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            chunk.sample_rate = 16000
            container.mux(audio.encode(chunk))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    return path
