"""Decorruptor pipelines with tiny random components (CPU, seconds)."""

import cv2
import numpy as np
import PIL.Image
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from diffusers import DDIMScheduler, LCMScheduler
from tiny_editor import tiny_pipeline, tiny_unet, tiny_vae, write_released_layout

from image_core.editor import (
    DecorruptorCMPipeline,
    DecorruptorDPMPipeline,
    guidance_embedding,
    image_guidance_schedule,
    load_editor,
)
from image_core.editor.base import PROMPT_EMBEDS_FILE
from image_core.editor.colour import keep_low_frequencies, median_filter
from image_core.editor.grid import grid_offsets, grid_shift_mean
from image_core.editor.latents import normalize_latents, shared_generators


@pytest.fixture(scope="module")
def cm():
    return tiny_pipeline(cm=True)


@pytest.fixture(scope="module")
def dpm():
    return tiny_pipeline(cm=False)


def images(batch=2, height=32, width=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, height, width, 3), dtype=np.uint8)


def seeded(seed=0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def count_unet_calls(pipe) -> list[int]:
    """Batch size of every UNet forward call."""
    calls: list[int] = []
    handle = pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    pipe._test_hook = handle
    return calls


@pytest.mark.parametrize("which", ["cm", "dpm"])
def test_output_kind_and_shape_follow_the_input(which, request):
    pipe = request.getfixturevalue(which)
    steps = {"num_inference_steps": 2}
    array = images(2)
    out = pipe(image=array, generator=seeded(), **steps).images
    assert isinstance(out, np.ndarray) and out.shape == (2, 32, 32, 3) and out.dtype == np.uint8
    single = pipe(image=array[0], generator=seeded(), **steps).images
    assert single.shape == (1, 32, 32, 3)
    pil = pipe(image=PIL.Image.fromarray(array[0]), generator=seeded(), **steps).images
    assert isinstance(pil, list) and len(pil) == 1 and pil[0].size == (32, 32)
    pils = pipe(image=[PIL.Image.fromarray(a) for a in array], generator=seeded(), **steps).images
    assert len(pils) == 2 and all(isinstance(p, PIL.Image.Image) for p in pils)
    tensor = torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255
    out_tensor = pipe(image=tensor, generator=seeded(), **steps).images
    assert out_tensor.shape == (2, 3, 32, 32) and out_tensor.dtype == torch.float32
    assert 0 <= out_tensor.min() and out_tensor.max() <= 1
    # The same pixels in every kind give the same result.
    np.testing.assert_array_equal(np.asarray(pil[0]), single[0])
    np.testing.assert_array_equal(np.stack([np.asarray(p) for p in pils]), out)


@pytest.mark.parametrize("which", ["cm", "dpm"])
def test_seed_determinism_and_batch_equals_singles(which, request):
    pipe = request.getfixturevalue(which)
    array = images(3)
    first = pipe(image=array, generator=seeded(5), num_inference_steps=2).images
    np.testing.assert_array_equal(first, pipe(image=array, generator=seeded(5), num_inference_steps=2).images)
    batch = pipe(image=array, generator=[seeded(s) for s in (1, 2, 3)], num_inference_steps=2, image_guidance_scale=1.2)
    for index, seed in enumerate((1, 2, 3)):
        alone = pipe(image=array[index], generator=seeded(seed), num_inference_steps=2, image_guidance_scale=1.2)
        diff = np.abs(batch.images[index].astype(int) - alone.images[0].astype(int))
        assert diff.max() <= 1, diff.max()


def test_cm_makes_one_unet_call_per_step_and_dpm_three_way_batches(cm, dpm):
    for pipe, steps, expected in ((cm, 4, [1] * 4), (dpm, 20, [3] * 20)):
        calls = count_unet_calls(pipe)
        try:
            pipe(image=images(1), generator=seeded(), num_inference_steps=steps)
        finally:
            pipe._test_hook.remove()
        assert calls == expected
    calls = count_unet_calls(cm)
    try:
        cm(image=images(2), generator=seeded())  # default: 4 steps
    finally:
        cm._test_hook.remove()
    assert calls == [2] * 4


def test_cm_guidance_reaches_the_unet(cm):
    array = images(1)
    base = cm(image=array, generator=seeded(), guidance_scale=7.5, image_guidance_scale=1.2).images
    other_text = cm(image=array, generator=seeded(), guidance_scale=3.0, image_guidance_scale=1.2).images
    other_image = cm(image=array, generator=seeded(), guidance_scale=7.5, image_guidance_scale=1.5).images
    assert not np.array_equal(base, other_text)
    assert not np.array_equal(base, other_image)
    seen = []
    handle = cm.unet.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs["timestep_cond"]), with_kwargs=True
    )
    try:
        cm(image=array, generator=seeded(), guidance_scale=7.5, image_guidance_scale=1.2)
    finally:
        handle.remove()
    dim = cm.unet.config.time_cond_proj_dim
    expected = guidance_embedding(torch.tensor([7.5]), dim) * guidance_embedding(torch.tensor([1.2]), dim)
    assert seen[0].shape == (1, dim)
    torch.testing.assert_close(seen[0], expected)


@pytest.mark.parametrize("which", ["cm", "dpm"])
def test_sampling_starts_from_the_image_at_the_terminal_snr(which, request):
    pipe = request.getfixturevalue(which)
    array = images(1)
    first_latents = []
    handle = pipe.unet.register_forward_pre_hook(
        lambda m, args: first_latents.append(args[0][:1, : pipe.unet.config.out_channels])
    )
    try:
        for start_from_image in (True, False):
            pipe(
                image=array,
                generator=seeded(),
                num_inference_steps=2,
                settings=pipe.settings.replace(start_from_image=start_from_image),
            )
    finally:
        handle.remove()
    from_image, from_noise = first_latents[0], first_latents[2]
    alpha = pipe.scheduler.alphas_cumprod[int(pipe.scheduler.timesteps[0])]
    signal = normalize_latents(
        pipe.vae.config, pipe.encode_image_latents(torch.from_numpy(array).permute(0, 3, 1, 2) / 255)
    )
    torch.testing.assert_close(from_image - (1 - alpha).sqrt() * from_noise, alpha.sqrt() * signal)


def test_keep_low_frequencies_takes_the_broad_colours_and_keeps_the_fine_detail():
    ramp = torch.linspace(0.2, 0.6, 64)
    reference = torch.stack([ramp[None, :].expand(48, 64), ramp[:, None].expand(64, 48).T, torch.full((48, 64), 0.4)])[
        None
    ]
    checker = (torch.arange(48)[:, None] + torch.arange(64)[None, :]) % 2 * 0.1 - 0.05  # the finest detail there is
    edited = reference + torch.tensor([0.15, -0.1, 0.05])[:, None, None] + checker  # a colour cast plus detail
    fixed = keep_low_frequencies(edited, reference, sigma=2.0)
    torch.testing.assert_close(fixed, (reference + checker).clamp(0, 1), atol=2e-3, rtol=0)
    tiny = torch.rand(1, 3, 3, 5)  # smaller than the kernel: it shrinks to fit the reflect padding
    torch.testing.assert_close(keep_low_frequencies(tiny, tiny, sigma=4.0), tiny)


def test_keep_low_frequencies_takes_the_median_of_the_difference_so_impulse_grains_do_not_move_colours():
    generator = torch.Generator().manual_seed(0)
    clean = 0.3 + 0.2 * torch.rand(1, 3, 40, 40, generator=generator)
    salted = torch.where(torch.rand(clean.shape, generator=generator) < 0.1, torch.ones_like(clean), clean)
    fixed = keep_low_frequencies(clean, salted, sigma=2.0)  # an edit that took the grains out
    averaged = clean + TF.gaussian_blur(salted - clean, [13, 13], [2.0, 2.0])  # the plain low-pass of the input
    assert (fixed - clean).abs().mean() < 0.005
    assert (averaged - clean).mean() > 0.05  # what the grains would have added to the broad colours
    assert torch.equal(median_filter(salted, 1), salted)
    torch.testing.assert_close(median_filter(torch.arange(9.0).view(1, 1, 3, 3), 3)[0, 0, 1, 1], torch.tensor(4.0))


def test_the_3x3_median_equals_opencvs_and_the_sorting_median_with_reflect_borders():
    values = torch.rand(2, 3, 17, 23, generator=torch.Generator().manual_seed(1))
    values[0, 0, 4, :] = 0.5  # ties
    fast = median_filter(values, 3)
    padded = torch.nn.functional.pad(values, (1,) * 4, mode="reflect")
    sorted_median = padded.unfold(2, 3, 1).unfold(3, 3, 1).flatten(-2).median(dim=-1).values
    assert torch.equal(fast, sorted_median)
    # OpenCV's median filter (replicated borders) agrees everywhere inside
    for image, filtered in zip(values.flatten(0, 1).numpy(), fast.flatten(0, 1).numpy()):
        assert np.array_equal(cv2.medianBlur(image, 3)[1:-1, 1:-1], filtered[1:-1, 1:-1])


def test_grid_shift_mean_shifts_every_copy_by_its_offset_and_back():
    images = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    copies = []

    def edit(copy: torch.Tensor, index: int) -> torch.Tensor:
        copies.append(copy)
        return copy + index

    torch.testing.assert_close(grid_shift_mean(edit, images, 4, factor=4), images + 1.5)  # every copy is shifted back
    assert [tuple(c.shape) for c in copies] == [(2, 3, 11, 13)] * 4  # one shape: half the factor larger
    for copy, (top, left) in zip(copies, [(0, 0), (2, 2), (0, 2), (2, 0)]):
        torch.testing.assert_close(copy[..., top : top + 9, left : left + 11], images)
    torch.testing.assert_close(
        grid_shift_mean(lambda copy, _: copy, images, 1, factor=4), images
    )  # one copy: no padding
    assert grid_offsets(4, 8) == [(0, 0), (4, 4), (0, 4), (4, 0)]
    with pytest.raises(ValueError, match=r"grid_shifts must be one of \(1, 2, 4\), got 3"):
        grid_offsets(3, 4)


@pytest.mark.parametrize("which", ["cm", "dpm"])
def test_grid_shifts_average_shifted_edits_and_a_checkpoint_sets_the_count(which, request, tmp_path):
    pipe = request.getfixturevalue(which)
    tensor = torch.from_numpy(images(2, 37, 29)).permute(0, 3, 1, 2).float() / 255
    steps = {"num_inference_steps": 1}
    calls = count_unet_calls(pipe)
    try:
        shifted = pipe(
            image=tensor,
            generator=seeded(),
            settings=pipe.settings.replace(grid_shifts=4, colour_fix_sigma=2.0),
            **steps,
        ).images
        assert len(calls) == 4 and shifted.shape == tensor.shape
        generator = seeded()
        edit = lambda copy, _: pipe(image=copy, generator=generator, **steps).images  # noqa: E731
        expected = keep_low_frequencies(grid_shift_mean(edit, tensor, 4, pipe.vae_scale_factor), tensor, 2.0)
        torch.testing.assert_close(shifted, expected, atol=1e-5, rtol=0)
        assert (shifted - pipe(image=tensor, generator=seeded(), **steps).images).abs().max() > 1e-3
        pipe.register_to_config(settings={"grid_shifts": 2})
        pipe.save_pretrained(tmp_path)
        reloaded = load_editor(tmp_path, device="cpu")
        assert reloaded.settings.grid_shifts == 2
        calls.clear()
        reloaded.unet = pipe.unet  # the hooked module
        reloaded(image=tensor, generator=seeded(), **steps)
        assert len(calls) == 2
    finally:
        pipe._test_hook.remove()
        pipe.register_to_config(settings={})
    with pytest.raises(ValueError, match="grid_shifts must be one of"):
        pipe(image=tensor, settings=pipe.settings.replace(grid_shifts=3))


@pytest.mark.parametrize("which", ["cm", "dpm"])
def test_colour_fix_is_the_decoded_edit_with_the_inputs_low_frequencies(which, request):
    pipe = request.getfixturevalue(which)
    array = images(2, 37, 29)  # padded to the VAE factor inside, cropped back
    tensor = torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255
    kwargs = {"num_inference_steps": 2}
    plain = pipe(image=tensor, generator=seeded(), **kwargs).images
    fixed = pipe(
        image=tensor, generator=seeded(), settings=pipe.settings.replace(colour_fix_sigma=3.0), **kwargs
    ).images
    assert (fixed - plain).abs().max() > 0.05
    # The fix works on the padded images; away from the padded edges it equals fixing the cropped result.
    expected = keep_low_frequencies(plain, tensor, 3.0)
    torch.testing.assert_close(fixed[..., :24, :16], expected[..., :24, :16], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="colour_fix_sigma must be >= 0"):
        pipe(image=array, num_inference_steps=1, settings=pipe.settings.replace(colour_fix_sigma=-1))


def test_guidance_embedding_is_sinusoidal():
    embedding = guidance_embedding(torch.tensor([0.0, 1.0]), 7)
    assert embedding.shape == (2, 7)
    torch.testing.assert_close(embedding[0, :3], torch.zeros(3))  # sin(0)
    torch.testing.assert_close(embedding[0, 3:6], torch.ones(3))  # cos(0)
    assert embedding[:, 6].abs().sum() == 0  # odd size: one zero column
    assert torch.isclose(embedding[1, 0], torch.sin(torch.tensor(1000.0)))


def test_dpm_applies_the_image_guidance_schedule_step_by_step(dpm):
    unet_outputs, guided = [], []
    unet_hook = dpm.unet.register_forward_hook(lambda m, args, output: unet_outputs.append(output[0].clone()))
    original_step = dpm.scheduler.step

    def spy_step(model_output, *args, **kwargs):
        guided.append(model_output.clone())
        return original_step(model_output, *args, **kwargs)

    dpm.scheduler.step = spy_step
    try:
        dpm(image=images(1), generator=seeded(), num_inference_steps=5)
    finally:
        unet_hook.remove()
        del dpm.scheduler.step
    schedule = image_guidance_schedule(5)
    torch.testing.assert_close(schedule, torch.tensor([1.8, 1.8 * 0.75**0.5, 1.8 * 0.5**0.5, 1.8 * 0.25**0.5, 0.0]))
    for step, (output, combined) in enumerate(zip(unet_outputs, guided)):
        text_image, null_image, null_null = output.chunk(3)
        expected = null_null + 7.5 * (text_image - null_image) + schedule[step] * (null_image - null_null)
        torch.testing.assert_close(combined, expected)
    with pytest.raises(ValueError, match="image_guidance_scale has 3 values for 5 steps"):
        dpm(image=images(1), num_inference_steps=5, image_guidance_scale=[1.0, 0.5, 0.0])


def test_shared_noise_gives_identical_frames_identical_results(cm, dpm):
    frame = images(1)
    repeated = np.repeat(frame, 3, axis=0)
    for pipe in (cm, dpm):
        shared = pipe(image=repeated, generator=shared_generators(seeded(), 3), num_inference_steps=3).images
        assert np.abs(shared.astype(int) - shared[0].astype(int)).max() <= 1
        independent = pipe(image=repeated, generator=seeded(), num_inference_steps=3).images
        assert not np.array_equal(independent[0], independent[1])


@pytest.mark.parametrize("size", [(37, 29), (33, 64), (45, 45)])
def test_odd_sizes_come_back_at_their_size(cm, size):
    out = cm(image=images(1, *size), generator=seeded()).images
    assert out.shape == (1, *size, 3)


@pytest.mark.parametrize("which", ["cm", "dpm"])
def test_save_load_round_trip_gives_identical_output(which, request, tmp_path):
    pipe = request.getfixturevalue(which)
    pipe.save_pretrained(tmp_path)
    assert (tmp_path / PROMPT_EMBEDS_FILE).is_file()
    loaded = load_editor(tmp_path, device="cpu")
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded) is type(pipe)
    kwargs = {"num_inference_steps": 3, "image_guidance_scale": 1.2}
    before = pipe(image=images(2), generator=seeded(), **kwargs).images.astype(int)
    after = loaded(image=images(2), generator=seeded(), **kwargs).images.astype(int)
    # Same weights bit for bit; freshly loaded tensors may take other CPU kernels: at most 1 level apart.
    for name, tensor in pipe.unet.state_dict().items():
        assert torch.equal(tensor, loaded.unet.state_dict()[name])
    assert np.abs(before - after).max() <= 1


def test_stored_prompt_embeddings_replace_the_text_encoder(cm, tmp_path):
    cm.save_pretrained(tmp_path / "full")
    bare = DecorruptorCMPipeline(vae=cm.vae, unet=cm.unet, scheduler=cm.scheduler)
    bare.prompt_embeds, bare.negative_prompt_embeds = cm.instruction_embeddings()
    bare.save_pretrained(tmp_path / "bare")
    assert not (tmp_path / "bare" / "text_encoder").exists()
    loaded = load_editor(tmp_path / "bare", device="cpu")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.text_encoder is None
    restored = loaded(image=images(1), generator=seeded()).images.astype(int)
    assert np.abs(restored - cm(image=images(1), generator=seeded()).images).max() <= 1
    empty = DecorruptorCMPipeline(vae=cm.vae, unet=cm.unet, scheduler=cm.scheduler)
    with pytest.raises(ValueError, match="neither a text encoder and tokenizer nor a stored prompt_embeds"):
        empty(image=images(1))


@pytest.mark.parametrize("is_cm", [True, False])
def test_released_layout_folder_loads_offline(is_cm, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = write_released_layout(tmp_path / ("cm" if is_cm else "dpm"), cm=is_cm)
    pipe = load_editor(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe, DecorruptorCMPipeline if is_cm else DecorruptorDPMPipeline)
    assert isinstance(pipe.scheduler, LCMScheduler if is_cm else DDIMScheduler)  # PNDM config -> DDIM
    assert pipe.unet.dtype == torch.float32  # fp16 variant files, upcast for the CPU
    assert pipe.text_encoder is not None and pipe.tokenizer is not None
    out = pipe(image=images(1, 40, 24), generator=seeded(), num_inference_steps=2).images
    assert out.shape == (1, 40, 24, 3)
    # The instruction is encoded once and cached.
    first = pipe.prompt_embeds
    pipe(image=images(1), generator=seeded(), num_inference_steps=2)
    assert pipe.prompt_embeds is first


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((1, 32, 32, 4), np.uint8), r"shape \(H, W, 3\) or \(B, H, W, 3\), got \(1, 32, 32, 4\)"),
        (np.zeros((0, 32, 32, 3), np.uint8), r"empty \(B = 0\)"),
        (np.zeros((32, 32, 3), np.float32), "must be uint8"),
        (torch.zeros(1, 1, 32, 32), r"shape \(B, 3, H, W\), got \(1, 1, 32, 32\)"),
        (torch.zeros(0, 3, 32, 32), "empty"),
        (torch.full((1, 3, 32, 32), 255.0), "must lie in \\[0, 1\\], got values from 255.000"),
        ([], "empty list"),
        ("photo.png", "unsupported image type str"),
    ],
)
def test_bad_inputs_say_what_is_wrong(cm, image, message):
    with pytest.raises(ValueError, match=message):
        cm(image=image)


def test_generator_count_must_match_the_batch(cm):
    with pytest.raises(ValueError, match="got 2 generators for a batch of 3 images"):
        cm(image=images(3), generator=[seeded(), seeded()])


def test_unknown_folder_fails_at_once_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="checkpoint folder not found"):
        load_editor(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="'someone/DeCorruptor-CM' was not found locally"):
        load_editor("someone/DeCorruptor-CM")
    with pytest.raises(FileNotFoundError, match="not a diffusers checkpoint"):
        load_editor(tmp_path)


def test_cm_pipeline_refuses_a_unet_without_guidance_embedding():
    with pytest.raises(ValueError, match="time_cond_proj_dim is None"):
        DecorruptorCMPipeline(vae=tiny_vae(), unet=tiny_unet(cm=False), scheduler=LCMScheduler())


@pytest.mark.parametrize(("which", "published"), [("cm", 4), ("dpm", 20)])
def test_a_checkpoints_inference_steps_is_its_default_and_a_call_overrides_it(which, published, request, tmp_path):
    pipe = request.getfixturevalue(which)
    calls = []
    handle = pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(1))

    def unet_calls(editor, **kwargs) -> int:
        calls.clear()
        editor(image=images(1), generator=seeded(), **kwargs)
        return len(calls)  # one UNet call per step (the DPM's three guidance branches are one batch)

    try:
        assert unet_calls(pipe) == published
        pipe.register_to_config(settings={"inference_steps": 2})
        pipe.save_pretrained(tmp_path)
        reloaded = load_editor(tmp_path, device="cpu")
        reloaded.unet = pipe.unet  # the hooked module
        reloaded.set_progress_bar_config(disable=True)
        assert reloaded.settings.inference_steps == 2
        assert unet_calls(reloaded) == 2
        assert unet_calls(reloaded, num_inference_steps=3) == 3
    finally:
        handle.remove()
        pipe.register_to_config(settings={})


def residual_twin(pipe):
    """The same components as a pipeline whose checkpoint setting ``residual_target`` is on."""
    twin = type(pipe)(
        vae=pipe.vae,
        unet=pipe.unet,
        scheduler=pipe.scheduler,
        text_encoder=pipe.text_encoder,
        tokenizer=pipe.tokenizer,
        settings={"residual_target": True},
    )
    twin.set_progress_bar_config(disable=True)
    return twin


@pytest.mark.parametrize("which", ["cm", "dpm"])
def test_a_residual_target_checkpoint_starts_from_no_change_and_keeps_the_setting(which, request, tmp_path):
    pipe = residual_twin(request.getfixturevalue(which))
    first_latents = []
    handle = pipe.unet.register_forward_pre_hook(
        lambda m, args: first_latents.append(args[0][:1, : pipe.unet.config.out_channels])
    )
    try:
        for start_from_image in (True, False):
            pipe(
                image=images(1),
                generator=seeded(),
                num_inference_steps=2,
                settings=pipe.settings.replace(start_from_image=start_from_image),
            )
    finally:
        handle.remove()
    alpha = pipe.scheduler.alphas_cumprod[int(pipe.scheduler.timesteps[0])]
    # the diffused variable is the change to the input's latents, whose guess before any step is zero
    torch.testing.assert_close(first_latents[0], (1 - alpha).sqrt() * first_latents[2])
    pipe.save_pretrained(tmp_path)
    assert load_editor(tmp_path, device="cpu").settings.residual_target is True
    assert request.getfixturevalue(which).settings.residual_target is False


@pytest.mark.parametrize("which", ["cm", "dpm"])
def test_a_residual_target_checkpoint_shows_the_transform_image_latents_and_decodes_them(which, request):
    plain = request.getfixturevalue(which)
    pipe = residual_twin(plain)
    array, seen = images(1), []

    def predict_no_change(module, args, output):
        """An epsilon that denoises the diffused variable to zero: eps = z / sqrt(1 - a_t)."""
        alpha = pipe.scheduler.alphas_cumprod[int(args[1])]
        return (args[0][:, : pipe.unet.config.out_channels] / (1 - alpha).sqrt(),)

    def record(pipe, step: int, timestep: torch.Tensor, tensors: dict) -> dict:
        seen.append(tensors["denoised"])
        return tensors

    handle = pipe.unet.register_forward_hook(predict_no_change)
    try:
        pipe(
            image=array,
            generator=seeded(),
            num_inference_steps=2,
            callback_on_step_end=record,
            callback_on_step_end_tensor_inputs=["denoised"],
        )
    finally:
        handle.remove()
    with torch.no_grad():
        latents = normalize_latents(
            pipe.vae.config, pipe.encode_image_latents(torch.from_numpy(array).permute(0, 3, 1, 2) / 255)
        )
    torch.testing.assert_close(seen[-1], latents, atol=1e-3, rtol=1e-3)  # "no change" is the input's own latents
    if (
        which == "cm"
    ):  # the CM decodes the last denoised estimate itself (the DPM its last latents, noise part included)
        zeros = {
            "callback_on_step_end": lambda pipe, i, t, x: {"denoised": torch.zeros_like(x["denoised"])},
            "callback_on_step_end_tensor_inputs": ["denoised"],
            "generator": seeded(),
        }
        np.testing.assert_allclose(pipe(image=array, **zeros).images, plain(image=array, **zeros).images, atol=1)


def test_a_callback_gets_only_what_it_names_and_an_unknown_name_is_refused(cm):
    seen = []
    cm(
        image=images(1),
        num_inference_steps=2,
        callback_on_step_end=lambda pipe, i, t, tensors: seen.append(sorted(tensors)) or {},
    )
    assert seen == [["latents"], ["latents"]]  # diffusers' default: the latents only
    with pytest.raises(ValueError, match="callback_on_step_end_tensor_inputs may name"):
        cm(image=images(1), callback_on_step_end=lambda *args: {}, callback_on_step_end_tensor_inputs=["noise_pred"])
