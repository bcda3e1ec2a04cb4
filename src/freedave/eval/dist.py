"""Data parallel over processes: the collectives lm-eval's evaluator calls on a model.

Under ``accelerate launch`` or ``torchrun`` every process has ``RANK``/``WORLD_SIZE`` (and the
rendezvous address) in its environment; the process group is started once, gloo on CPU and NCCL on
GPU. The evaluator hands each process every ``world_size``-th document, pads the shares to equal
length, then gathers logged samples and per-sample metrics with ``gather_object``.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def world_from_env() -> tuple[int, int]:
    """``(rank, world_size)`` of this process (``(0, 1)`` outside a launcher)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def local_device(device: str) -> str:
    """``cuda`` means this process's own GPU under a launcher (``LOCAL_RANK``)."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


def init(device: str) -> None:
    """Start the process group when launched with several processes and none is running yet."""
    if world_from_env()[1] > 1 and not dist.is_initialized():
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))  # NCCL's object collectives use the current GPU
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")


def all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every process's tensor, concatenated in rank order (a scalar becomes one entry)."""
    t = tensor.reshape(1) if tensor.dim() == 0 else tensor
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t)
    return torch.cat(parts)


def gather_object(obj: Any, dst: int = 0) -> list[Any] | None:
    """Every process's ``obj`` in rank order on ``dst``; None on the others."""
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, obj)
    return parts if dist.get_rank() == dst else None


def all_objects(obj: Any) -> list[Any]:
    """Every process's ``obj`` in rank order, on every process (``[obj]`` outside a launcher)."""
    if not dist.is_initialized():
        return [obj]
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, obj)
    return parts


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    """End the process group on every process once all are done. A process that exits with the group
    still up tears gloo's threads down during interpreter exit, which can abort it (SIGABRT,
    "terminate called without an active exception") after its work is finished."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
