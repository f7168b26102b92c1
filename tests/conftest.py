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
