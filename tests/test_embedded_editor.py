"""The shipped Decorruptor-Tiny: loads with no arguments and repairs a noisy held-out photo."""

import torch
from skimage.metrics import peak_signal_noise_ratio

from image_core.corruptions import corrupt
from image_core.editor import DecorruptorCMPipeline, DecorruptorDPMPipeline, load_editor
from image_core.editor.loading import EMBEDDED_DIR
from image_core.sources import heldout_photos


def test_embedded_weights_are_small_and_load_without_arguments():
    total = sum(p.stat().st_size for p in EMBEDDED_DIR.rglob("*") if p.is_file())
    assert total <= 40 * 2**20
    cm = load_editor()
    assert isinstance(cm, DecorruptorCMPipeline) and cm.text_encoder is None and cm.unet.dtype == torch.float32
    assert isinstance(load_editor(EMBEDDED_DIR / "decorruptor-tiny-dpm"), DecorruptorDPMPipeline)
    assert (EMBEDDED_DIR / "MODEL_CARD.md").is_file()


def test_embedded_cm_restores_a_noisy_held_out_photo_to_higher_psnr():
    clean = heldout_photos()["flower"][100:228, 200:328]
    noisy = corrupt(clean, "gaussian_noise", 3, rng=0)
    pipe = load_editor()
    pipe.set_progress_bar_config(disable=True)
    restored = pipe(image=noisy[None], generator=torch.Generator().manual_seed(0)).images[0]
    assert peak_signal_noise_ratio(clean, restored) > peak_signal_noise_ratio(clean, noisy) + 1.0
    # the checkpoint's own step count (its model_index.json settings) is its best
    four_steps = pipe(image=noisy[None], generator=torch.Generator().manual_seed(0), num_inference_steps=4).images[0]
    assert peak_signal_noise_ratio(clean, restored) > peak_signal_noise_ratio(clean, four_steps)
    uncorrected = pipe(
        image=noisy[None],
        generator=torch.Generator().manual_seed(0),
        settings=pipe.settings.replace(colour_fix_sigma=0),
    ).images[0]
    assert peak_signal_noise_ratio(clean, restored) > peak_signal_noise_ratio(clean, uncorrected) + 0.5
    # so are its grid shifts: the mean of shifted edits beats one edit
    assert pipe.settings.grid_shifts == 4
    one_grid = pipe(
        image=noisy[None], generator=torch.Generator().manual_seed(0), settings=pipe.settings.replace(grid_shifts=1)
    ).images[0]
    assert peak_signal_noise_ratio(clean, restored) > peak_signal_noise_ratio(clean, one_grid) + 0.2


def test_embedded_tone_corrector_undoes_lowered_contrast_and_leaves_a_clean_photo_alone():
    clean = heldout_photos()["china"][100:228, 200:328]
    flattened = corrupt(clean, "contrast", 3, rng=0)
    pipe = load_editor()
    pipe.set_progress_bar_config(disable=True)

    def restore(image, **kwargs):
        return pipe(image=image[None], generator=torch.Generator().manual_seed(0), **kwargs).images[0]

    assert peak_signal_noise_ratio(clean, restore(flattened)) > peak_signal_noise_ratio(clean, flattened) + 2.0
    assert (
        peak_signal_noise_ratio(clean, restore(flattened, settings=pipe.settings.replace(tone_correction=False)))
        < peak_signal_noise_ratio(clean, flattened) + 0.5
    )
    images = torch.tensor(clean).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        assert (pipe.tone_corrector.correct(images) - images).abs().max() < 4 / 255  # a clean photo keeps its tone
