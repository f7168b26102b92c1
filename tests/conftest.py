import numpy as np
import pytest

from image_core.sources import sample_photo


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A 96x96 crop of a real photo: textures and flat regions, so severities are comparable."""
    return sample_photo(96)


@pytest.fixture()
def cache_dir(tmp_path_factory) -> "Path":
    return tmp_path_factory.mktemp("cache")
