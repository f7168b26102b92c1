"""Fine-tune (or train from scratch) the Decorruptor-DPM editor with the InstructPix2Pix recipe.

Pairs are encoded once into a latent bank (the posterior modes of both images, unscaled), so a step
never re-runs the encoder. The target is the mode, not a sample: the autoencoder decodes modes.
Conditioning dropout (text 5%, image 5%, both 5%) teaches the three-way guidance; EMA, warm-up and
gradient clipping come from the shared loop. ``init_from`` starts from a real
InstructPix2Pix folder or a Stable Diffusion 1.5 folder (whose 4-channel UNet input is widened to
8, the new channels zero-initialised, as the published training did), or from an exported
Decorruptor DPM pipeline to fine-tune it.

    python -m image_core.training.editor --config image_core/training/configs/cpu/editor.yaml
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from torch.utils.data import DataLoader, Dataset, Subset

from image_core.corruption_modeling import CorruptionPairDataset, MixingBank, PairSampler
from image_core.degradations import DegradationModel
from image_core.editor.architectures import ARCHITECTURES, SD_SCHEDULE
from image_core.editor.autoencoder import Autoencoder, load_autoencoder
from image_core.editor.base import INSTRUCTION
from image_core.editor.latents import diffusion_latents
from image_core.editor.pipeline_dpm import DecorruptorDPMPipeline
from image_core.sources import CleanImageDataset
from image_core.training.common import (
    LoopConfig,
    config_main,
    in_memory_device,
    load_cached_tensors,
    run_loop,
    save_cached_tensors,
    step_generator,
)

__all__ = [
    "EditorConfig",
    "LatentBank",
    "build_latent_bank",
    "pair_dataset",
    "train_editor",
    "widen_unet_input",
    "main",
]


@dataclasses.dataclass
class EditorConfig(LoopConfig):
    vae_path: str = "runs/tiny/autoencoder/vae"
    architecture: str = "tiny"
    # An InstructPix2Pix or Stable Diffusion 1.5 diffusers folder, or an exported Decorruptor DPM
    # pipeline (fine-tuning: its UNet and prompt embeddings are the starting point).
    init_from: str | None = None
    image_size: int = 64
    recolour_fraction: float = 0.0  # photo crops recoloured (image_core.sources.recolour)
    tone_probability: float = 0.0  # degradation pairs with a global tone change first (DegradationModel)
    bank_size: int = 20_000
    bank_batch_size: int = 64
    bank_workers: int = 0  # DataLoader workers drawing the pairs to encode
    case_weights: dict = dataclasses.field(
        default_factory=lambda: {"identity": 1.0, "pixmix": 3.0, "simsiam": 1.0, "degradation": 2.0}
    )
    dataset_length: int = 10_000_000
    mixing_bank_count: int = 256
    prediction_type: str = "v_prediction"
    timestep_spacing: str = "trailing"
    # Rescale the schedule to zero SNR at t = 999, so the UNet cannot take colour and brightness from
    # the signal Stable Diffusion's schedule leaves there and must take them from the condition.
    zero_terminal_snr: bool = False
    residual_target: bool = (
        False  # diffuse the change to the input's latents (image_core.editor.latents.diffusion_offset)
    )
    timestep_power: float = 1.0  # > 1 draws training timesteps towards t = 999 (training_timesteps)
    # The exported teacher's editor settings (model_index.json "settings"; see image_core.editor.settings);
    # residual_target is added from the field above.
    settings: dict = dataclasses.field(default_factory=dict)
    text_dropout: float = 0.05
    image_dropout: float = 0.05
    both_dropout: float = 0.05

    def __post_init__(self) -> None:
        if self.timestep_power <= 0:
            raise ValueError(f"timestep_power must be > 0, got {self.timestep_power}")


def pair_dataset(config: EditorConfig) -> CorruptionPairDataset:
    """(clean, corrupted) training pairs: crops of the training photos through the pair sampler."""
    sampler = PairSampler(
        MixingBank(count=config.mixing_bank_count),
        case_weights=dict(config.case_weights),
        degradation=DegradationModel(tone_probability=config.tone_probability),
    )
    clean = CleanImageDataset(
        size=config.image_size,
        length=config.dataset_length,
        seed=config.seed,
        recolour_fraction=config.recolour_fraction,
    )
    return CorruptionPairDataset(clean, sampler)


class LatentBank(Dataset):
    """Pre-encoded pairs: ``(target, condition)`` latents (clean and corrupted); indices wrap around."""

    KEYS = ("target", "condition")

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.target, self.condition = (tensors[key] for key in self.KEYS)

    def __len__(self) -> int:
        return len(self.condition)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = index % len(self.condition)
        return self.target[i].float(), self.condition[i].float()

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole batch in one gather: a DataLoader asks for it; item by item was slow on the GPU
        machine's CPU (docs/training.md, "On a GPU"). Pair it with :meth:`collate`."""
        i = (torch.as_tensor(indices) % len(self.condition)).to(self.condition.device)
        return self.target[i].float(), self.condition[i].float()

    @staticmethod
    def collate(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The DataLoader's ``collate_fn`` for :meth:`__getitems__`: the batch is already stacked."""
        return batch

    def to(self, device: torch.device | str) -> LatentBank:
        """The bank on ``device`` (on a GPU the gather runs there and no batch crosses the bus)."""
        return LatentBank({"target": self.target.to(device), "condition": self.condition.to(device)})


def _weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state dict: two autoencoders with one config but other weights differ."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _bank_recipe(vae: Autoencoder, config: EditorConfig) -> str:
    """What the bank's contents depend on: a cached bank made otherwise is rebuilt, not reused."""
    fields = (
        "image_size",
        "bank_size",
        "case_weights",
        "mixing_bank_count",
        "recolour_fraction",
        "tone_probability",
        "seed",
    )
    return json.dumps(
        {
            "vae": dict(vae.config),
            "vae_weights": _weights_digest(vae),
            **{name: getattr(config, name) for name in fields},
        },
        sort_keys=True,
        default=str,
    )


@torch.no_grad()
def build_latent_bank(vae: Autoencoder, config: EditorConfig, path: Path) -> LatentBank:
    """Encode ``config.bank_size`` pairs once (float16, cached at ``path`` with the recipe that made them)."""
    from tqdm.auto import tqdm

    recipe = _bank_recipe(vae, config)
    cached = load_cached_tensors(path, recipe)
    if cached is not None:
        return LatentBank(cached)
    pairs = Subset(pair_dataset(config), range(config.bank_size))
    loader = DataLoader(pairs, batch_size=config.bank_batch_size, num_workers=config.bank_workers)
    chunks: dict[str, list[torch.Tensor]] = {key: [] for key in LatentBank.KEYS}
    for clean, corrupted in tqdm(loader, desc="latent bank", unit="batch"):
        for key, images in zip(LatentBank.KEYS, (clean, corrupted)):
            latents = vae.encode(images.to(vae.device, vae.dtype) * 2 - 1).latent_dist.mode()
            chunks[key].append(latents.half().cpu())
    tensors = {name: torch.cat(values).contiguous() for name, values in chunks.items()}
    save_cached_tensors(path, tensors, recipe)
    return LatentBank(tensors)


def widen_unet_input(unet: UNet2DConditionModel, in_channels: int) -> UNet2DConditionModel:
    """Give a text-to-image UNet extra input channels for the image latents, zero-initialised, so it
    starts out computing exactly what it did before."""
    old = unet.conv_in
    if old.in_channels == in_channels:
        return unet
    new = torch.nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels] = old.weight
        new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=in_channels)
    return unet


def _initial_model(
    config: EditorConfig, latent_channels: int
) -> tuple[UNet2DConditionModel, torch.Tensor, torch.Tensor]:
    """The UNet and the (instruction, null) embeddings to train with."""
    if config.init_from and (Path(config.init_from) / "prompt_embeds.safetensors").is_file():
        pipe = DecorruptorDPMPipeline.from_pretrained(config.init_from)
        prompt, null = pipe.instruction_embeddings()
        return pipe.unet.float(), prompt.float(), null.float()
    if config.init_from:
        folder = Path(config.init_from)
        unet = widen_unet_input(UNet2DConditionModel.from_pretrained(folder / "unet"), 2 * latent_channels)
        from transformers import CLIPTextModel, CLIPTokenizer

        tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder").eval()

        def encode(text: str) -> torch.Tensor:
            ids = tokenizer(
                text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
            ).input_ids
            with torch.no_grad():
                return text_encoder(ids)[0].float()

        return unet, encode(INSTRUCTION), encode("")
    architecture = ARCHITECTURES[config.architecture]
    torch.manual_seed(config.seed)
    unet = UNet2DConditionModel(
        **{**architecture.unet, "in_channels": 2 * latent_channels, "out_channels": latent_channels}
    )
    # No text encoder at this size: the instruction and the null prompt are two fixed random token sequences.
    embeddings = torch.randn(
        2,
        1,
        architecture.prompt_tokens,
        architecture.unet["cross_attention_dim"],
        generator=torch.Generator().manual_seed(config.seed + 1),
    )
    return unet, embeddings[0], embeddings[1]


class EditorObjective(torch.nn.Module):
    """Denoising loss on [noisy target | corrupted condition] with conditioning dropout."""

    def __init__(
        self, unet: UNet2DConditionModel, vae_config, prompt: torch.Tensor, null: torch.Tensor, config: EditorConfig
    ):
        super().__init__()
        self.unet, self.vae_config, self.config = unet, vae_config, config
        self.register_buffer("prompt", prompt)
        self.register_buffer("null", null)
        self.noise_scheduler = DDPMScheduler(**noise_schedule(config))

    def forward(self, batch: tuple[torch.Tensor, ...], step: int) -> torch.Tensor:
        target, condition = batch
        generator = step_generator(self.config.seed, step, target.device)
        batch_size = target.shape[0]
        target = diffusion_latents(self.vae_config, target, condition, self.config.residual_target)
        noise = torch.randn(target.shape, generator=generator, device=target.device)
        timesteps = training_timesteps(
            self.noise_scheduler.config.num_train_timesteps, batch_size, self.config.timestep_power, generator
        )
        noisy = self.noise_scheduler.add_noise(target, noise, timesteps)
        # Conditioning dropout: [0, t) text only, [t, t + i) image only, [t + i, t + i + b) both.
        r = torch.rand(batch_size, generator=generator, device=target.device)
        c = self.config
        drop_text = (r < c.text_dropout) | (
            (r >= c.text_dropout + c.image_dropout) & (r < c.text_dropout + c.image_dropout + c.both_dropout)
        )
        drop_image = (r >= c.text_dropout) & (r < c.text_dropout + c.image_dropout + c.both_dropout)
        text = torch.where(drop_text[:, None, None], self.null, self.prompt)
        condition = condition * (~drop_image).float()[:, None, None, None]
        prediction = self.unet(torch.cat([noisy, condition], dim=1), timesteps, encoder_hidden_states=text).sample
        if self.config.prediction_type == "v_prediction":
            wanted = self.noise_scheduler.get_velocity(target, noise, timesteps)
        else:
            wanted = noise
        return F.mse_loss(prediction.float(), wanted.float())


def training_timesteps(count: int, batch_size: int, power: float, generator: torch.Generator) -> torch.Tensor:
    """Timesteps of a training batch: uniform over [0, count) for ``power`` 1 (the published
    setting), else ``count * u ** (1 / power)``, drawn towards the last timestep, where a one-step
    sampler starts, for ``power`` > 1."""
    if power == 1:
        return torch.randint(0, count, (batch_size,), generator=generator, device=generator.device)
    uniform = torch.rand(batch_size, generator=generator, device=generator.device)
    return (count * uniform ** (1 / power)).long().clamp_max(count - 1)


def noise_schedule(config: EditorConfig) -> dict:
    """The scheduler settings training and sampling share: Stable Diffusion's betas, the prediction
    type and the zero-terminal-SNR switch."""
    return {
        **SD_SCHEDULE,
        "prediction_type": config.prediction_type,
        "rescale_betas_zero_snr": config.zero_terminal_snr,
    }


def teacher_scheduler(config: EditorConfig) -> DDIMScheduler:
    return DDIMScheduler(
        **noise_schedule(config), timestep_spacing=config.timestep_spacing, clip_sample=False, set_alpha_to_one=False
    )


def train_editor(config: EditorConfig) -> Path:
    """Build the latent bank, train, export the DPM pipeline to ``<output_dir>/dpm``."""
    from accelerate import PartialState

    vae = load_autoencoder(config.vae_path).eval().requires_grad_(False).to(PartialState().device)
    with PartialState().main_process_first():  # several GPUs: one process encodes, the others load
        bank = build_latent_bank(vae, config, Path(config.output_dir) / "latent_bank.safetensors")
    unet, prompt, null = _initial_model(config, vae.config.latent_channels)
    objective = EditorObjective(unet, vae.config, prompt, null, config)
    run_loop(config, objective, bank.to(in_memory_device(config)), collate_fn=LatentBank.collate)
    pipe = DecorruptorDPMPipeline(
        vae=vae.cpu(),
        unet=unet,
        scheduler=teacher_scheduler(config),
        settings={**config.settings, "residual_target": config.residual_target},
    )
    pipe.prompt_embeds, pipe.negative_prompt_embeds = prompt, null
    export = Path(config.output_dir) / "dpm"
    if PartialState().is_main_process:
        pipe.save_pretrained(export)
    return export


def main(argv: Sequence[str] | None = None) -> None:
    print(f"editor (DPM) exported to {config_main(EditorConfig, train_editor, __doc__.splitlines()[0], argv)}")


if __name__ == "__main__":
    main()
