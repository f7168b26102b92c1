"""The shipped Decorruptor-Tiny: loads with no arguments, repairs a noisy held-out photo and compressed
low-contrast video."""

import json
from pathlib import Path

import torch
import yaml
from conftest import moving_clip
from skimage.metrics import peak_signal_noise_ratio

from image_core.corruptions import corrupt
from image_core.editor import DecorruptorCMPipeline, DecorruptorDPMPipeline, load_editor
from image_core.editor.loading import EMBEDDED_DIR
from image_core.sources import heldout_photos
from video_decorruptor.benchmark.corruptions import corrupt_frames
from video_decorruptor.benchmark.metrics import grain_ratio, psnr
from video_decorruptor.benchmark.ucf101c import write_published_storage
from video_decorruptor.io import read_video
from video_decorruptor.restore.restorer import VideoDecorruptor


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
    assert pipe.settings.grid_shifts == 2
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
    with torch.no_grad():  # a clean photo keeps its tone: its tonal range closes the checkpoint's tone gate
        assert torch.equal(pipe.correct_tone(images, pipe.settings), images)


def test_embedded_restorer_corrects_the_tone_of_compressed_low_contrast_video_without_grain(tmp_path):
    """Lowered contrast stored as the published UCF-101C stores it (MPEG-4 Part 2): the codec's blocks
    hide in the flat frames. The tone gate opens on the narrow tonal range, and the stretch brings the
    contrast back without turning the blocks into grain."""
    clean = moving_clip(8, 96, 128)
    write_published_storage(tmp_path / "clip.mp4", corrupt_frames(clean, "contrast", 5, rng=0), 25)
    stored = read_video(tmp_path / "clip.mp4")[0]
    restorer = VideoDecorruptor.from_pretrained(progress=False)
    restored = restorer.restore_frames(stored)
    assert restorer.explain()["tone"] == 1
    assert psnr(clean, restored) > psnr(clean, stored) + 0.5
    assert grain_ratio(clean, restored) <= 1.3


def test_the_cpu_training_configs_record_the_settings_the_shipped_folders_have():
    """``make weights`` exports the settings the embedded folders carry (gates included)."""
    configs = Path(__file__).resolve().parents[1] / "image_core" / "training" / "configs" / "cpu"
    for stage, folder in (("editor", "decorruptor-tiny-dpm"), ("distill", "decorruptor-tiny-cm")):
        recorded = yaml.safe_load((configs / f"{stage}.yaml").read_text())["settings"]
        shipped = json.loads((EMBEDDED_DIR / folder / "model_index.json").read_text())["settings"]
        assert {name: shipped[name] for name in recorded} == recorded
