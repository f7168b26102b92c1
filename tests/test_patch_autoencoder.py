"""The linear patch autoencoder: PCA fit, the AutoencoderKL interface, save and load."""

import pytest
import torch
from tiny_editor import tiny_vae

from image_core.editor.autoencoder import PatchAutoencoder, fit_patch_pca, load_autoencoder, vae_downsampling


def smooth_images(count: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """(count, 3, size, size) in [-1, 1] with correlated neighbouring pixels, as photos have."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, size // 4, size // 4, generator=generator)
    fine = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return (fine + 0.05 * torch.randn(fine.shape, generator=generator)).clamp(0, 1) * 2 - 1


def round_trip_error(vae: PatchAutoencoder, images: torch.Tensor) -> float:
    with torch.no_grad():
        return (vae.decode(vae.encode(images).latent_dist.mode()).sample - images).pow(2).mean().item()


def test_all_components_reconstruct_exactly_and_fewer_beat_a_random_code():
    images = smooth_images(8)
    full = fit_patch_pca(PatchAutoencoder(latent_channels=12, patch_size=2), [images[:4], images[4:]])
    assert round_trip_error(full, images) < 1e-10
    pca = fit_patch_pca(PatchAutoencoder(latent_channels=4, patch_size=2), [images])
    basis = pca.encoder.weight[:, :, 0, 0]
    torch.testing.assert_close(basis @ basis.T, torch.eye(4), atol=1e-5, rtol=0)  # orthonormal rows
    torch.manual_seed(0)
    random = PatchAutoencoder(latent_channels=4, patch_size=2)
    orthonormal, _ = torch.linalg.qr(torch.randn(12, 4))
    with torch.no_grad():
        random.encoder.weight.copy_(orthonormal.T[:, :, None, None])
        random.encoder.bias.copy_(-orthonormal.T @ pca.decoder.bias)
        random.decoder.weight.copy_(orthonormal[:, :, None, None])
        random.decoder.bias.copy_(pca.decoder.bias)
    assert round_trip_error(pca, images) < 0.5 * round_trip_error(random, images)


def test_it_speaks_the_autoencoder_kl_interface():
    vae = fit_patch_pca(PatchAutoencoder(latent_channels=5, patch_size=4), [smooth_images(2)])
    posterior = vae.encode(smooth_images(1, size=24)).latent_dist
    assert posterior.mode().shape == (1, 5, 6, 6)
    torch.testing.assert_close(posterior.sample(), posterior.mode())  # deterministic: no variance
    assert posterior.kl().abs().max() == 0
    assert vae.decode(posterior.mode()).sample.shape == (1, 3, 24, 24)
    assert vae_downsampling(vae.config) == 4 and vae_downsampling(tiny_vae().config) == 2


def test_load_autoencoder_returns_the_saved_class_and_refuses_other_folders(tmp_path):
    vae = fit_patch_pca(PatchAutoencoder(latent_channels=5, patch_size=2), [smooth_images(2)])
    vae.save_pretrained(tmp_path / "patch")
    tiny_vae().save_pretrained(tmp_path / "kl")
    loaded = load_autoencoder(tmp_path / "patch")
    assert isinstance(loaded, PatchAutoencoder)
    images = smooth_images(1)
    assert round_trip_error(loaded, images) == pytest.approx(round_trip_error(vae, images))
    assert type(load_autoencoder(tmp_path / "kl")).__name__ == "AutoencoderKL"
    with pytest.raises(ValueError, match="is not an autoencoder folder"):
        load_autoencoder(tmp_path)
