"""The three training stages on tiny settings: learnability, exact resume, exports that load."""

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel
from tiny_editor import tiny_vae

from image_core.editor import DecorruptorCMPipeline, DecorruptorDPMPipeline, load_editor
from image_core.editor.autoencoder import PatchAutoencoder, load_autoencoder
from image_core.editor.latents import guidance_embedding
from image_core.training.autoencoder import (
    AutoencoderConfig,
    AutoencoderObjective,
    clean_images,
    train_autoencoder,
    whiten_latents,
)
from image_core.training.common import LoopConfig, _lr_factor, load_config, run_loop
from image_core.training.distill import DistillationObjective, DistillConfig, distill
from image_core.training.editor import (
    EditorConfig,
    EditorObjective,
    LatentBank,
    _initial_model,
    build_latent_bank,
    teacher_scheduler,
    train_editor,
    widen_unet_input,
)

FAST = ["image_size=32", "num_workers=0", "log_every=2", "warmup_steps=2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny autoencoder -> editor -> distillation chain shared by the tests below."""
    base = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("VIDEO_DECORRUPTOR_CACHE", str(base / "cache"))
    ae = load_config(
        AutoencoderConfig,
        None,
        FAST + [f"output_dir={base}/ae", "max_steps=4", "batch_size=2", "stats_batches=2", "pca_images=64"],
    )
    vae = train_autoencoder(ae)
    editor = load_config(
        EditorConfig,
        None,
        FAST
        + [
            "mixing_bank_count=8",
            f"output_dir={base}/editor",
            f"vae_path={vae}",
            "max_steps=4",
            "batch_size=4",
            "bank_size=8",
            "bank_batch_size=4",
            "ema_decay=0.9",
        ],
    )
    dpm = train_editor(editor)
    student = load_config(
        DistillConfig,
        None,
        [
            f"output_dir={base}/distill",
            f"teacher_path={dpm}",
            "max_steps=3",
            "batch_size=4",
            "num_workers=0",
            "guidance_embedding_dim=16",
        ],
    )
    cm = distill(student)
    yield {"base": base, "vae": vae, "dpm": dpm, "cm": cm, "ae_config": ae}
    mp.undo()


def test_load_config_parses_numbers_and_rejects_unknown_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: 1e-4\nmax_steps: 10\n")
    config = load_config(LoopConfig, path, ["batch_size=3"])
    assert config.learning_rate == 1e-4 and config.max_steps == 10 and config.batch_size == 3
    with pytest.raises(ValueError, match="unknown config key\\(s\\) bach_size; allowed: batch_size"):
        load_config(LoopConfig, None, ["bach_size=3"])


def test_exports_load_as_the_right_pipelines_and_run(runs):
    image = np.random.default_rng(0).integers(0, 256, (1, 40, 36, 3), dtype=np.uint8)
    for name, kind in (("dpm", DecorruptorDPMPipeline), ("cm", DecorruptorCMPipeline)):
        pipe = load_editor(runs[name], device="cpu")
        pipe.set_progress_bar_config(disable=True)
        assert isinstance(pipe, kind) and pipe.text_encoder is None  # instruction embeddings are stored
        assert pipe(image=image, num_inference_steps=2).images.shape == (1, 40, 36, 3)
    vae = load_editor(runs["cm"], device="cpu").vae
    assert len(vae.config.latents_mean) == vae.config.latent_channels and vae.config.scaling_factor == 1.0
    assert (runs["base"] / "editor" / "log.csv").read_text().startswith("step,loss,learning_rate,seconds")


def test_the_tiny_autoencoder_is_a_patch_pca_of_photo_crops_that_reconstructs_them(runs):
    vae = load_autoencoder(runs["vae"]).eval()
    assert isinstance(vae, PatchAutoencoder) and vae.config.latent_channels == 20
    photos = torch.stack(
        [clean_images(runs["ae_config"], seed_offset=3, dead_leaves_fraction=0.0)[i] for i in range(4)]
    )
    with torch.no_grad():
        latents = vae.encode(photos * 2 - 1).latent_dist.mode()
        decoded = (vae.decode(latents).sample + 1) / 2
    psnr = 10 * torch.log10(1 / (decoded - photos).pow(2).mean())
    assert psnr > 30  # 20 of 48 numbers per 4x4 patch keep photos nearly intact
    assert latents.std() == pytest.approx(1.0, abs=0.5)  # statistics folded in


def test_a_shared_latent_scale_keeps_the_principal_components_in_proportion(runs, tmp_path):
    overrides = FAST + [f"output_dir={tmp_path}", "max_steps=0", "batch_size=2", "stats_batches=2", "pca_images=64"]
    vae = load_autoencoder(
        train_autoencoder(load_config(AutoencoderConfig, None, overrides + ["latent_std=shared"]))
    ).eval()
    photos = torch.stack(
        [clean_images(runs["ae_config"], seed_offset=3, dead_leaves_fraction=0.0)[i] for i in range(4)]
    )
    with torch.no_grad():
        std = vae.encode(photos * 2 - 1).latent_dist.mode().std(dim=(0, 2, 3))
    assert std[0] > 5 * std[-1]  # the first component (patch brightness) carries most of the variance
    with pytest.raises(ValueError, match="latent_std must be 'channel' or 'shared'"):
        load_config(AutoencoderConfig, None, ["latent_std=pixel"])


def test_autoencoder_objective_learns_a_fixed_batch(runs):
    torch.manual_seed(0)
    vae = tiny_vae().train()  # an AutoencoderKL from scratch: the objective's case
    objective = AutoencoderObjective(vae, kl_weight=1e-6)
    batch = torch.stack([clean_images(runs["ae_config"])[i] for i in range(2)])
    optimizer = torch.optim.Adam(vae.parameters(), lr=3e-4)
    losses = []
    for step in range(12):
        loss = objective(batch, step=step)  # deterministic (posterior mode): a fixed problem
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0]


def test_resume_from_a_checkpoint_continues_exactly(runs, tmp_path):
    config = load_config(
        AutoencoderConfig, None, FAST + ["max_steps=4", "batch_size=1", "checkpoint_every=2", "ema_decay=0.5"]
    )
    images = clean_images(config)

    def train(output_dir, max_steps):
        torch.manual_seed(0)
        vae = load_editor(runs["dpm"], device="cpu").vae.train().requires_grad_(True)
        config.output_dir, config.max_steps = str(output_dir), max_steps
        return run_loop(config, AutoencoderObjective(vae, 1e-6), images)

    straight = train(tmp_path / "straight", 4)
    train(tmp_path / "split", 2)
    resumed = train(tmp_path / "split", 4)
    assert resumed["resumed_from"] == 2
    assert [loss for _, loss in resumed["losses"]] == [loss for _, loss in straight["losses"][2:]]
    for a, b in zip(straight["model"].state_dict().values(), resumed["model"].state_dict().values()):
        assert torch.equal(a, b)


def test_widened_unet_computes_what_the_text_to_image_unet_did():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    sample, text = torch.randn(1, 4, 16, 16), torch.randn(1, 5, 32)
    with torch.no_grad():
        before = unet(sample, 10, encoder_hidden_states=text).sample
        widened = widen_unet_input(unet, 8)
        after = widened(torch.cat([sample, torch.randn(1, 4, 16, 16)], 1), 10, encoder_hidden_states=text).sample
    assert widened.config.in_channels == 8 and widened.conv_in.in_channels == 8
    torch.testing.assert_close(before, after)


def test_latent_bank_gathers_whole_batches_like_item_by_item():
    from torch.utils.data import DataLoader

    bank = LatentBank({"target": torch.randn(5, 2, 3, 3).half(), "condition": torch.randn(5, 2, 3, 3).half()})
    indices = [4, 7, 1]  # 7 wraps round to 2
    target, condition = LatentBank.collate(bank.__getitems__(indices))
    torch.testing.assert_close(target, torch.stack([bank[i][0] for i in indices]))
    torch.testing.assert_close(condition, torch.stack([bank[i][1] for i in indices]))
    batches = list(DataLoader(bank, batch_size=2, collate_fn=LatentBank.collate))
    assert [tuple(b[0].shape) for b in batches] == [(2, 2, 3, 3), (2, 2, 3, 3), (1, 2, 3, 3)]
    torch.testing.assert_close(batches[1][1], torch.stack([bank[2][1], bank[3][1]]))


def test_a_cached_latent_bank_is_reused_only_for_the_same_recipe(runs, tmp_path):
    import dataclasses

    vae = load_autoencoder(runs["vae"])
    config = load_config(EditorConfig, None, FAST + ["mixing_bank_count=8", "bank_size=4", "bank_batch_size=4"])
    path = tmp_path / "bank.safetensors"
    first = build_latent_bank(vae, config, path)
    made = path.stat().st_mtime_ns
    again = build_latent_bank(vae, config, path)
    assert path.stat().st_mtime_ns == made
    torch.testing.assert_close(again.condition, first.condition)
    recoloured = build_latent_bank(vae, dataclasses.replace(config, recolour_fraction=1.0), path)
    assert path.stat().st_mtime_ns != made and len(recoloured) == 4
    made = path.stat().st_mtime_ns
    with torch.no_grad():
        vae.quant_conv.bias.add_(0.1)  # other weights, same config
    build_latent_bank(vae, dataclasses.replace(config, recolour_fraction=1.0), path)
    assert path.stat().st_mtime_ns != made


def test_fine_tuning_starts_from_an_exported_teacher(runs):
    teacher = load_editor(runs["dpm"], device="cpu")
    unet, prompt, null = _initial_model(EditorConfig(init_from=str(runs["dpm"])), teacher.vae.config.latent_channels)
    expected_prompt, expected_null = teacher.instruction_embeddings()
    torch.testing.assert_close(prompt, expected_prompt.float())
    torch.testing.assert_close(null, expected_null.float())
    for name, value in teacher.unet.state_dict().items():
        torch.testing.assert_close(unet.state_dict()[name], value.float())


def test_student_starts_as_the_teacher(runs):
    teacher = load_editor(runs["dpm"], device="cpu")
    prompt, null = teacher.instruction_embeddings()
    config = DistillConfig(guidance_embedding_dim=16)
    objective = DistillationObjective(teacher.unet, teacher.scheduler, teacher.vae.config, prompt, null, config)
    sample = torch.randn(2, 2 * teacher.vae.config.latent_channels, 8, 8)
    guidance = guidance_embedding(torch.tensor([7.5, 12.0]), 16) * guidance_embedding(torch.tensor([1.2, 1.0]), 16)
    with torch.no_grad():
        expected = teacher.unet(sample, 500, encoder_hidden_states=prompt.expand(2, -1, -1)).sample
        student = objective.student(
            sample, 500, encoder_hidden_states=prompt.expand(2, -1, -1), timestep_cond=guidance
        ).sample
    torch.testing.assert_close(student, expected)


def test_a_time_budget_stops_early_with_a_checkpoint(runs, tmp_path):
    from image_core.training.common import latest_checkpoint

    config = load_config(
        AutoencoderConfig,
        None,
        FAST
        + [
            f"output_dir={tmp_path}",
            "max_steps=50",
            "batch_size=1",
            "time_budget_minutes=0.00001",
            "checkpoint_every=100",
        ],
    )
    vae = load_editor(runs["dpm"], device="cpu").vae.train().requires_grad_(True)
    result = run_loop(config, AutoencoderObjective(vae, 1e-6), clean_images(config))
    assert len(result["losses"]) == 1 and latest_checkpoint(tmp_path).name == "step_00000001.pt"


def test_zero_terminal_snr_reaches_the_teacher_and_the_student_schedules(runs):
    config = EditorConfig(zero_terminal_snr=True)
    teacher = load_editor(runs["dpm"], device="cpu")
    objective = EditorObjective(teacher.unet, teacher.vae.config, torch.zeros(1, 8, 64), torch.zeros(1, 8, 64), config)
    scheduler = teacher_scheduler(config)
    assert objective.noise_scheduler.alphas_cumprod[-1] == 0 and scheduler.alphas_cumprod[-1] == 0
    assert teacher_scheduler(EditorConfig()).alphas_cumprod[-1] > 0.004  # Stable Diffusion's leftover signal
    distillation = DistillationObjective(
        teacher.unet,
        scheduler,
        teacher.vae.config,
        torch.zeros(1, 8, 64),
        torch.zeros(1, 8, 64),
        load_config(DistillConfig),
    )
    torch.testing.assert_close(distillation.alphas_cumprod, scheduler.alphas_cumprod.float())


@pytest.mark.parametrize(
    "make_vae", [tiny_vae, lambda: PatchAutoencoder(latent_channels=6, patch_size=2)], ids=["kl", "patch"]
)
def test_whitening_folds_latent_statistics_into_the_autoencoder_without_changing_its_output(make_vae):
    torch.manual_seed(0)
    vae = make_vae().eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        before = vae.encode(x).latent_dist.mode()
        decoded = vae.decode(before).sample
        mean = before.mean(dim=(0, 2, 3))
        std = before.std(dim=(0, 2, 3))
        whiten_latents(vae, mean.tolist(), std.tolist())
        after = vae.encode(x).latent_dist.mode()
        torch.testing.assert_close(
            after, (before - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1), rtol=1e-4, atol=1e-5
        )
        torch.testing.assert_close(vae.decode(after).sample, decoded, rtol=1e-4, atol=1e-5)
    assert vae.config.latents_mean == [0.0] * len(mean) and vae.config.latents_std == [1.0] * len(std)


def test_a_time_budget_ends_the_cosine_at_the_deadline():
    config = LoopConfig(max_steps=1000, warmup_steps=10, decay="cosine")
    assert _lr_factor(config)(505) == pytest.approx(0.55)  # half-way by steps, no budget
    assert _lr_factor(config, lambda: 0.5)(20) == pytest.approx(0.55)  # half the time spent at step 20
    assert _lr_factor(config, lambda: 1.0)(20) == pytest.approx(0.1)
    assert _lr_factor(config, lambda: 0.5)(5) == pytest.approx(0.6)  # the warm-up still counts steps


def test_ship_writes_float16_pipelines_and_a_model_card(runs, tmp_path):
    from image_core.training.train_all import ship

    shipped = ship({"vae": runs["vae"], "dpm": runs["dpm"], "cm": runs["cm"]}, "cpu", destination=tmp_path)
    assert [p.name for p in shipped] == ["decorruptor-tiny-dpm", "decorruptor-tiny-cm"]
    cm = load_editor(shipped[1], device="cpu")
    assert isinstance(cm, DecorruptorCMPipeline) and cm.unet.dtype == torch.float32  # loaded in fp32 on CPU
    assert next(iter((shipped[1] / "unet").glob("*.safetensors"))).stat().st_size < 1.1 * sum(
        p.numel() * 2 for p in cm.unet.parameters()
    )  # stored in float16
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "- autoencoder: 4 steps in" in card and "- distillation (CM student): 3 steps in" in card
    assert not list(tmp_path.glob("*.partial"))


def test_a_residual_target_diffuses_the_change_to_the_input_in_both_objectives(runs):
    teacher = load_editor(runs["dpm"], device="cpu")
    prompt, null = (e.float() for e in teacher.instruction_embeddings())
    channels = teacher.vae.config.latent_channels  # whitened latents: normalisation is the identity
    target, condition = torch.randn(2, channels, 8, 8), torch.randn(2, channels, 8, 8)

    def editor_loss(residual: bool, batch) -> torch.Tensor:
        return EditorObjective(teacher.unet, teacher.vae.config, prompt, null, EditorConfig(residual_target=residual))(
            batch, step=3
        )

    def distill_loss(residual: bool, batch) -> torch.Tensor:
        config = DistillConfig(guidance_embedding_dim=16)
        return DistillationObjective(
            teacher.unet, teacher.scheduler, teacher.vae.config, prompt, null, config, residual
        )(batch, step=3)

    for loss in (editor_loss, distill_loss):
        with torch.no_grad():
            torch.testing.assert_close(loss(True, (target, condition)), loss(False, (target - condition, condition)))


def test_the_student_keeps_the_teachers_residual_target_and_gets_its_step_count_and_grid_shifts(runs, tmp_path):
    import shutil

    teacher = load_editor(runs["dpm"], device="cpu")
    teacher.register_to_config(settings={"residual_target": True})
    teacher.save_pretrained(tmp_path / "editor" / "dpm")
    shutil.copy(runs["base"] / "editor" / "latent_bank.safetensors", tmp_path / "editor")
    student = load_config(
        DistillConfig,
        None,
        [
            f"output_dir={tmp_path}/distill",
            f"teacher_path={tmp_path}/editor/dpm",
            "max_steps=1",
            "batch_size=2",
            "num_workers=0",
            "guidance_embedding_dim=16",
            "settings={inference_steps: 1, grid_shifts: 2}",
        ],
    )
    exported = load_editor(distill(student), device="cpu")
    assert exported.settings.residual_target is True
    assert exported.settings.inference_steps == 1  # the distillation config's settings travel with the student
    assert exported.settings.grid_shifts == 2


def test_training_timesteps_are_uniform_by_default_and_drawn_towards_the_end_with_a_power():
    from image_core.training.editor import training_timesteps

    uniform = training_timesteps(1000, 4096, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(uniform, torch.randint(0, 1000, (4096,), generator=torch.Generator().manual_seed(0)))
    late = training_timesteps(1000, 4096, 3.0, torch.Generator().manual_seed(0))
    assert late.min() >= 0 and late.max() <= 999
    assert (late < 500).float().mean() == pytest.approx(0.125, abs=0.02)  # P(u ** (1/3) < 0.5) = 1/8
    with pytest.raises(ValueError, match="timestep_power must be > 0"):
        EditorConfig(timestep_power=0)
