"""``freedave check``: is this model's forward batch-invariant (and its cache exact) here?

FreeDave's output equals static's only if a row's logits do not depend on what else is in the
batch. The check runs the same rows alone and inside batches of 1..32 at every place, bit for bit,
and for block-causal models compares the cached window with the uncached one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from freedave.decoding.protocol import Query
from freedave.options import block_origin


@dataclass
class CheckReport:
    model: str
    family: str
    device: str
    dtype: str
    deterministic: bool
    batch_sizes: list[int]
    batch_invariant: bool
    max_abs_diff: float
    cache_exact: bool | None
    cache_max_abs_diff: float | None
    note: str
    compile: bool = False  # the forward checked was torch.compile'd (--compile)
    compile_max_abs_diff_vs_eager: float | None = None  # compiled vs eager logits of the same rows

    @property
    def passed(self) -> bool:
        return self.batch_invariant and self.cache_exact is not False


def check_denoiser(den, *, device: str = "cpu", max_batch: int = 32, seed: int = 0,
                   shapes: tuple[tuple[int, int, int], ...] = ((3, 2, 3), (8, 4, 3), (12, 8, 2))):
    """Run the check over several (prompt_len, block_size, blocks) shapes, small windows included
    (CPU GEMMs round row counts below ~12 differently). Returns (batch sizes, invariant, max |diff|,
    cache exact, cache max |diff|). Windows are cut in the denoiser's own block layout (SDAR-style
    checkpoints: ``aligned``, so a window may start inside the prompt)."""
    layout = getattr(den, "block_layout", None) or "prompt"
    results = [_check_shape(den, device, max_batch, p, b, n, seed, layout) for p, b, n in shapes]
    sizes = results[0][0]
    worst = max(r[2] for r in results)
    cache = [r for r in results if r[3] is not None]
    cache_exact = all(r[3] for r in cache) if cache else None
    cache_diff = max(r[4] for r in cache) if cache else None
    return sizes, worst == 0.0, worst, cache_exact, cache_diff


def _check_shape(den, device: str, max_batch: int, prompt_len: int, block_size: int, blocks: int,
                 seed: int, layout: str = "prompt") -> tuple[list[int], bool, float, bool | None, float | None]:
    g = torch.Generator().manual_seed(seed)
    length = prompt_len + blocks * block_size
    low = 4 if den.vocab_size > 8 else 0
    rows = torch.randint(low, den.vocab_size, (max_batch, length), generator=g)
    rows[rows == den.mask_id] = low
    rows[:, :prompt_len] = rows[0, :prompt_len]
    masked = torch.rand(max_batch, length - prompt_len, generator=g) < 0.5
    rows[:, prompt_len:][masked] = den.mask_id
    rows = rows.to(device)
    origin = block_origin(layout, prompt_len)
    start = origin + (prompt_len - origin) // block_size * block_size  # the block holding the prompt end
    end = min(length, start + 2 * block_size)

    def query(x, lo, hi, cache=None):
        return Query(x, prompt_len, block_size, lo, hi, cache, block_layout=layout)

    def run(x, cache=None):
        return den.logits([query(x, start, end, cache)])[0].float().cpu()

    alone = run(rows[:1])
    sizes, worst = [], 0.0
    for b in range(1, max_batch + 1):
        others = rows[1:b]
        for place in sorted({0, b // 2, b - 1}):
            batch = torch.cat([others[:place], rows[:1], others[place:]])[:b]
            worst = max(worst, float((run(batch)[place] - alone[0]).abs().max()))
        sizes.append(b)
    cache_exact = cache_diff = None
    cache = den.new_cache()
    if cache is not None:
        # fill the cache with the prompt through a first window, then compare the next block
        x = rows[:4].clone()
        x[:, start : start + block_size] = rows[0, start : start + block_size].clamp_min(low)
        x[x == den.mask_id] = low
        x[:, start + block_size :] = den.mask_id
        x[1:, start + block_size + 1] = low
        s2 = start + block_size
        den.logits([query(x, start, s2, cache)])
        a = den.logits([query(x, s2, min(length, s2 + block_size), cache)])[0]
        b = den.logits([query(x, s2, min(length, s2 + block_size), None)])[0]
        cache_diff = float((a.float() - b.float()).abs().max())
        cache_exact = bool(torch.equal(a, b))
    return sizes, worst == 0.0, worst, cache_exact, cache_diff


def run_check(loaded, *, model: str, device: str, dtype: str, deterministic: bool = False,  # noqa: ANN001
              max_batch: int = 32) -> CheckReport:
    """Check a loaded model: batch invariance over batches 1..max_batch and cache exactness."""
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    den = loaded.denoiser
    if hasattr(den, "set_deterministic"):
        den.set_deterministic(deterministic)
    sizes, inv, diff, cache_ok, cache_diff = check_denoiser(den, device=device, max_batch=max_batch)
    note = (
        "linear layers run in fixed 16-row tiles and attention per segment, so rows never share a "
        "reduction; --deterministic also asks torch for deterministic algorithms"
    )
    compiled = getattr(den, "compiled_stack", None) is not None
    if compiled:
        note += ("; --compile: the same check on the compiled forward (fused norms/rotary/MLP, library GEMMs on "
                 "the same row tiles); compiled logits may differ from eager ones in the last bits")
    return CheckReport(model, den.family, device, dtype, bool(deterministic), sizes, inv, diff, cache_ok, cache_diff, note,
                       compiled, compiled_vs_eager(den, device) if compiled else None)


def compiled_vs_eager(den, device: str, seed: int = 0) -> float:  # noqa: ANN001
    """Max |compiled - eager| over the logits of a few random rows (the eager forward is the
    same denoiser with its compiled stack set aside)."""
    g = torch.Generator().manual_seed(seed)
    low = 4 if den.vocab_size > 8 else 0
    x = torch.randint(low, den.vocab_size, (4, 24), generator=g)
    x[x == den.mask_id] = low
    x[:, :8] = x[0, :8]
    x[:, 12:] = den.mask_id
    x = x.to(device)

    def run() -> Tensor:
        return den.logits([Query(x, 8, 4, 8, 16, None)])[0].float().cpu()

    compiled = run()
    stack, den.compiled_stack = den.compiled_stack, None
    try:
        eager = run()
    finally:
        den.compiled_stack = stack
    return float((compiled - eager).abs().max())
