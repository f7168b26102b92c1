import numpy as np
import pytest

from image_core.sources import sample_photo
from video_decorruptor.io import write_video


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


CLASSES = ("ApplyEyeMakeup", "Basketball", "YoYo")


def make_mini_ucf101(base, frames=12, broken: bool = False):
    """<base>/UCF-101/<Class>/v_<Class>_gXX_cYY.avi (MPEG-4 part 2 in AVI, like the originals) and
    <base>/ucfTrainTestlist with classInd.txt, trainlist01.txt and testlist01.txt."""
    root, splits = base / "UCF-101", base / "ucfTrainTestlist"
    splits.mkdir(parents=True)
    (splits / "classInd.txt").write_text("".join(f"{i + 1} {name}\n" for i, name in enumerate(CLASSES)))
    train, test = [], []
    for label, name in enumerate(CLASSES):
        for group in (1, 8):
            relative = f"{name}/v_{name}_g{group:02d}_c01.avi"
            path = root / relative
            write_video(
                path,
                moving_clip(frames + group, 48, 64, seed=label),
                25,
                codec="mpeg4",
                crf=None,
                options={"qscale": "3"},
            )
            (test if group == 1 else train).append(relative)
            if group == 8:
                train[-1] += f" {label + 1}"
    if broken:
        (root / "YoYo" / "v_YoYo_g02_c01.avi").write_bytes(b"RIFF....AVI broken")
        test.append("YoYo/v_YoYo_g02_c01.avi")
    (splits / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (splits / "testlist01.txt").write_text("\r\n".join(test) + "\r\n")  # the originals use CRLF
    return root, splits
