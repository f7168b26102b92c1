"""``torchrun`` data parallelism shared by the evaluation and classifier training: joining the
process group, gathering Python objects, waiting for every rank. One process works as a world of one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["all_gather", "barrier", "process_group"]


@contextmanager
def process_group(device: str | None) -> Iterator[tuple[int, int, torch.device]]:
    """(rank, world size, this process's device) for the work inside; with WORLD_SIZE > 1 it joins
    torchrun's process group (nccl on CUDA, gloo on the CPU), each rank on its LOCAL_RANK GPU, and
    leaves it afterwards if it created it (gloo's threads abort a process that exits in the group)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    name = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and world > 1:
        name = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    chosen = torch.device(name)
    if chosen.type == "cuda" and chosen.index is not None:  # nccl collectives use the current device
        torch.cuda.set_device(chosen)
    if world == 1:
        yield 0, 1, chosen
        return
    import torch.distributed as dist

    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    try:
        yield dist.get_rank(), dist.get_world_size(), chosen
    finally:
        if created:
            dist.destroy_process_group()


def all_gather(value: Any, world: int) -> list[Any]:
    """Every rank's ``value``, in rank order (``[value]`` for one process)."""
    if world == 1:
        return [value]
    import torch.distributed as dist

    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, value)
    return gathered


def barrier(world: int) -> None:
    """Wait until every rank gets here."""
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
