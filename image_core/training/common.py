"""Shared training machinery: YAML configs, a deterministic step-indexed data stream, the resumable
optimisation loop (accelerate for mixed precision and multi-GPU), checkpoints and CSV logs.

Determinism is by construction rather than by saved RNG state: the batch of step ``s`` is items
``[s * B, (s + 1) * B)`` of an index-deterministic dataset, and every random draw of step ``s``
comes from a generator seeded with ``(seed, s)``. A run resumed from a checkpoint therefore
continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import torch
import yaml
from torch.utils.data import DataLoader, Dataset, Sampler

from image_core.io import atomic_path

__all__ = [
    "LogRow",
    "LoopConfig",
    "StepSampler",
    "config_main",
    "in_memory_device",
    "load_cached_tensors",
    "load_config",
    "read_log",
    "run_loop",
    "save_cached_tensors",
    "save_checkpoint",
    "step_generator",
    "latest_checkpoint",
]

ConfigT = TypeVar("ConfigT")


@dataclasses.dataclass
class LoopConfig:
    """Settings every training command shares."""

    output_dir: str = "runs/untitled"
    max_steps: int = 1000
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    decay: str = "constant"  # after the warm-up: "constant" or "cosine" (down to 10% at max_steps)
    max_grad_norm: float = 1.0
    ema_decay: float = 0.0  # 0 turns the EMA off
    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 25
    mixed_precision: str = "no"  # "no", "fp16" or "bf16" (accelerate)
    num_workers: int = 2
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    # Stop (checkpointed, then exported) after this long; a cosine decay then ends at the deadline if
    # that comes before max_steps. 0 = no limit. One process only.
    time_budget_minutes: float = 0.0


def load_config(config_class: type[ConfigT], path: str | Path | None = None, overrides: Sequence[str] = ()) -> ConfigT:
    """A config from a YAML file plus ``key=value`` overrides (values parsed as YAML).

    Raises:
        ValueError: a key the config does not have (the message lists the allowed ones).
    """
    values: dict[str, Any] = {}
    if path is not None:
        values.update(yaml.safe_load(Path(path).read_text()) or {})
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator:
            raise ValueError(f"override {override!r} is not key=value")
        values[key.strip()] = yaml.safe_load(text)
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}")
    for key, value in values.items():
        # YAML reads 1e-4 as a string; numbers follow the field's declared type.
        kind = {"float": float, "int": int}.get(str(fields[key].type))
        if kind is not None and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            try:
                values[key] = kind(value)
            except ValueError as error:
                raise ValueError(f"config key {key} must be {kind.__name__}, got {value!r}") from error
    return config_class(**values)


def config_main(
    config_class: type[ConfigT], train: Callable[[ConfigT], Any], description: str, argv: Sequence[str] | None = None
) -> Any:
    """The command line every training module shares: ``--config FILE`` plus ``key=value`` overrides."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, help=f"YAML file of {config_class.__name__} fields")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. max_steps=100")
    args = parser.parse_args(argv)
    return train(load_config(config_class, args.config, args.overrides))


def step_generator(seed: int, step: int, device: torch.device | str = "cpu", stream: int = 0) -> torch.Generator:
    """The random generator of one training step (and stream), independent of any earlier step."""
    return torch.Generator(device).manual_seed((seed * 1_000_003 + step) * 16 + stream)


class StepSampler(Sampler[int]):
    """Indices ``start_step * B`` onwards: the batch of a step never depends on earlier steps."""

    def __init__(self, start_step: int, max_steps: int, batch_size: int):
        self.start, self.stop = start_step * batch_size, max_steps * batch_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def in_memory_device(config: LoopConfig) -> torch.device:
    """Where an in-memory dataset (a latent bank) should sit: on this process's GPU when the loader
    reads it in-process (``num_workers == 0``), so batches are gathered there; otherwise the CPU."""
    from accelerate import PartialState

    device = PartialState().device
    return device if device.type == "cuda" and config.num_workers == 0 else torch.device("cpu")


def load_cached_tensors(path: Path, recipe: str) -> dict[str, torch.Tensor] | None:
    """The tensors :func:`save_cached_tensors` stored at ``path`` with this ``recipe`` (a data bank
    drawn once), or None when there are none or another recipe made them."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        return None
    with safe_open(str(path), "pt") as cached:
        if (cached.metadata() or {}).get("recipe") != recipe:
            return None
    return load_file(str(path))


def save_cached_tensors(path: Path, tensors: dict[str, torch.Tensor], recipe: str) -> None:
    """Store ``tensors`` at ``path`` (safetensors, written aside and renamed into place) with the
    ``recipe`` that made them, for :func:`load_cached_tensors`."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".partial")
    save_file(tensors, str(temporary), metadata={"recipe": recipe})
    temporary.replace(path)


def latest_checkpoint(output_dir: str | Path, prefix: str = "step") -> Path | None:
    """The newest ``output_dir/checkpoints/<prefix>_<number>.pt`` (numbers zero-padded), or None."""
    checkpoints = sorted((Path(output_dir) / "checkpoints").glob(f"{prefix}_*.pt"))
    return checkpoints[-1] if checkpoints else None


class LogRow(NamedTuple):
    """One line of a run's ``log.csv``: the mean loss of the steps since the line before."""

    step: int
    loss: float
    learning_rate: float
    minutes: float  # since the run first started, summed over resumed segments


def read_log(output_dir: str | Path) -> list[LogRow]:
    """The rows :func:`run_loop` logged in ``output_dir/log.csv`` (empty when there is none).

    A resumed run restarts its clock, so each row's ``seconds`` is added to the segments before it.
    """
    path = Path(output_dir) / "log.csv"
    if not path.is_file():
        return []
    rows, offset, previous = [], 0.0, 0.0
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            seconds = float(row["seconds"])
            if seconds < previous:
                offset += previous
            previous = seconds
            rows.append(
                LogRow(int(row["step"]), float(row["loss"]), float(row["learning_rate"]), (offset + seconds) / 60)
            )
    return rows


def save_checkpoint(output_dir: Path, name: str, state: dict[str, Any], keep: int) -> Path:
    """``state`` as ``output_dir/checkpoints/<name>.pt`` (``<prefix>_<zero-padded number>``), written
    aside and renamed into place so a kill never leaves half a checkpoint; only the newest ``keep``
    of that prefix stay."""
    folder = output_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pt"
    with atomic_path(path, clear_stale=True) as temporary:
        torch.save(state, temporary)
    for old in sorted(folder.glob(f"{name.rsplit('_', 1)[0]}_*.pt"))[:-keep]:
        old.unlink()
    return path


def _lr_factor(config: LoopConfig, budget_used: Callable[[], float] = lambda: 0.0) -> Callable[[int], float]:
    """Linear warm-up, then constant or a cosine down to 10% at ``max_steps`` or when
    ``budget_used()`` (the fraction of the time budget spent) reaches 1, whichever comes first, so a
    run cut short by its time budget still ends on a decayed learning rate."""
    if config.decay not in ("constant", "cosine"):
        raise ValueError(f"decay must be 'constant' or 'cosine', got {config.decay!r}")

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        if config.decay == "constant":
            return 1.0
        progress = min(
            1.0, max(budget_used(), (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
        )
        return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))

    return factor


def run_loop(
    config: LoopConfig,
    model: torch.nn.Module,
    dataset: Dataset,
    after_step: Callable[[int], None] | None = None,
    collate_fn: Callable | None = None,
) -> dict[str, Any]:
    """Train ``model`` for ``config.max_steps``, resuming from the newest checkpoint.

    Args:
        config: loop settings.
        model: an objective module: ``model(batch, step) -> scalar loss``, drawing its randomness from
            :func:`step_generator`; its parameters with ``requires_grad`` are optimised. Calling it
            through ``forward`` keeps multi-GPU gradient synchronisation working.
        dataset: index-deterministic dataset; step ``s`` gets items ``[s*B, (s+1)*B)``.
        after_step: called after each optimiser step (e.g. a target network's EMA update).

    Returns:
        ``{"model": model with EMA weights copied in (if any), "ema": EMAModel or None,
        "losses": [(step, loss)], "resumed_from": step}``.
    """
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel
    from tqdm.auto import tqdm

    if config.threads:
        torch.set_num_threads(config.threads)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=not torch.cuda.is_available())
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    budget_seconds = 60 * config.time_budget_minutes
    clock_start = time.perf_counter()
    budget_used = (
        (lambda: (time.perf_counter() - clock_start) / budget_seconds) if budget_seconds > 0 else (lambda: 0.0)
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config, budget_used))
    ema = EMAModel(parameters, decay=config.ema_decay, use_ema_warmup=False) if config.ema_decay > 0 else None

    start_step = 0
    checkpoint = latest_checkpoint(output_dir)
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        start_step = state["step"]
        accelerator.print(f"resuming from {checkpoint} (step {start_step})")

    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=StepSampler(start_step, config.max_steps, config.batch_size),
        num_workers=config.num_workers,
        collate_fn=collate_fn,
        persistent_workers=False,
        drop_last=True,
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    if ema is not None:
        ema.to(accelerator.device)

    log_path = output_dir / "log.csv"
    new_log = not log_path.exists() or start_step == 0
    log_file = log_path.open("w" if new_log else "a", newline="")
    log = csv.writer(log_file)
    if new_log:
        log.writerow(["step", "loss", "learning_rate", "seconds"])
    losses: list[tuple[int, float]] = []
    started, window = time.perf_counter(), []
    progress = tqdm(
        total=config.max_steps,
        initial=start_step,
        desc=output_dir.name,
        unit="step",
        disable=not accelerator.is_main_process,
    )
    step = start_step
    model.train()
    for batch in loader:
        loss = model(batch, step)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}")
        accelerator.backward(loss)
        if config.max_grad_norm > 0 and accelerator.sync_gradients:
            accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(parameters)
        if after_step is not None:
            after_step(step)
        step += 1
        window.append(loss.item())
        losses.append((step, loss.item()))
        progress.update()
        if accelerator.is_main_process and (step % config.log_every == 0 or step == config.max_steps):
            mean = sum(window) / len(window)
            log.writerow(
                [step, f"{mean:.6f}", f"{scheduler.get_last_lr()[0]:.3e}", f"{time.perf_counter() - started:.1f}"]
            )
            log_file.flush()
            progress.set_postfix(loss=f"{mean:.4f}")
            window = []
        out_of_time = budget_used() > 1
        if accelerator.is_main_process and (
            step % config.checkpoint_every == 0 or step == config.max_steps or out_of_time
        ):
            state = {
                "step": step,
                "model": accelerator.unwrap_model(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                **({"ema": ema.state_dict()} if ema is not None else {}),
            }
            save_checkpoint(output_dir, f"step_{step:08d}", state, config.keep_checkpoints)
        if out_of_time:
            accelerator.print(f"time budget of {config.time_budget_minutes} min reached at step {step}; stopping")
            break
    progress.close()
    log_file.close()
    model = accelerator.unwrap_model(model)
    if ema is not None:
        ema.copy_to([p for p in model.parameters() if p.requires_grad])
    model.eval()
    return {"model": model, "ema": ema, "losses": losses, "resumed_from": start_step}
