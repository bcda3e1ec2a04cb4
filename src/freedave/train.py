"""Training the bundled reference model from scratch: ``freedave train-reference``.

Block-diffusion training (BD3-LM style). Each training row is ``[prompt ; noisy response ; clean
response]``: in the noisy copy every block has a random fraction of its tokens replaced by the
mask; a dense attention mask lets noisy block b see the prompt, the clean blocks before b and
noisy block b itself, and clean block b see the prompt and the clean blocks up to b. One forward
therefore trains every block at once, each in exactly the context it has at inference. The loss
is the cross-entropy on masked response positions, over the blocks up to the one holding EOS (the
response is padded with EOS, and decoding stops after the EOS block).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from freedave.models.reference import ReferenceConfig, ReferenceModel
from freedave.models.reference_tokenizer import (
    BOS_ID,
    EOS_ID,
    MASK_ID,
    PAD_ID,
    build_tokenizer,
    save_tokenizer,
)
from freedave.tasks.reference import Problem, ReferenceTask, train_problems

log = logging.getLogger("freedave.train")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (with the seed, the run is reproducible)."""

    steps: int = 4000
    batch_size: int = 32
    lr: float = 3e-3
    min_lr: float = 2e-4
    warmup: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    train_size: int = 200_000
    hidden_size: int = 96
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 256
    block_size: int = 16
    gen_length: int = 32  # response positions seen in training (whole blocks)
    threads: int = 2
    eval_size: int = 200  # held-out problems scored after training (0 = skip)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "block_size", "gen_length", "threads", "train_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (got {getattr(self, name)})")
        if self.gen_length % self.block_size:
            raise ValueError(f"gen_length must be a multiple of block_size (got {self.gen_length}, {self.block_size})")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")


def model_config(cfg: TrainConfig, vocab_size: int) -> ReferenceConfig:
    return ReferenceConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=256,
        block_size=cfg.block_size,
        attention="block",
        mask_token_id=MASK_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
    )


# ------------------------------------------------------------------------------------------------
# Batches: pure functions of the problems and a generator.


def encode_pairs(tokenizer, problems: list[Problem], gen_length: int) -> list[tuple[list[int], list[int]]]:  # noqa: ANN001
    """``(prompt ids, response ids padded with EOS to gen_length)`` per problem."""
    out = []
    for p in problems:
        prompt = tokenizer.encode(p.prompt, add_special_tokens=False)
        resp = tokenizer.encode(p.answer, add_special_tokens=False) + [EOS_ID]
        if len(resp) > gen_length:
            raise ValueError(f"response of {p.id} is {len(resp)} tokens, longer than gen_length {gen_length}")
        out.append((prompt, resp + [EOS_ID] * (gen_length - len(resp))))
    return out


def two_stream_mask(prompt_lens: Tensor, pmax: int, gen_length: int, block_size: int) -> Tensor:
    """``[B, 1, L, L]`` bool attention mask (True = may attend) for rows ``[prompt ; noisy ; clean]``.

    Prompts are left-padded to ``pmax``; pad positions attend only to themselves.
    """
    n = pmax + 2 * gen_length
    idx = torch.arange(n)
    region = torch.where(idx < pmax, 0, torch.where(idx < pmax + gen_length, 1, 2))  # prompt/noisy/clean
    blk = torch.where(idx < pmax, -1, ((idx - pmax) % gen_length) // block_size)
    q_reg, k_reg = region[:, None], region[None, :]
    q_blk, k_blk = blk[:, None], blk[None, :]
    prompt_key = k_reg == 0
    noisy_q = (q_reg == 1) & (prompt_key | ((k_reg == 2) & (k_blk < q_blk)) | ((k_reg == 1) & (k_blk == q_blk)))
    clean_q = (q_reg == 2) & (prompt_key | ((k_reg == 2) & (k_blk <= q_blk)))
    prompt_q = (q_reg == 0) & prompt_key
    base = noisy_q | clean_q | prompt_q  # [L, L]
    valid = idx[None, :] >= (pmax - prompt_lens)[:, None]  # [B, L]: not a pad position
    valid = valid | (idx[None, :] >= pmax)
    mask = base[None] & valid[:, None, :]
    mask = mask | torch.eye(n, dtype=torch.bool)[None]  # pad rows see themselves (no empty row)
    return mask[:, None]


def make_batch(pairs: list[tuple[list[int], list[int]]], block_size: int, gen: torch.Generator) -> dict[str, Tensor]:
    """Inputs, mask, positions, targets and loss weights for one batch of encoded pairs."""
    b = len(pairs)
    gen_length = len(pairs[0][1])
    pmax = max(len(p) for p, _ in pairs)
    prompt = torch.full((b, pmax), PAD_ID, dtype=torch.long)
    prompt_lens = torch.tensor([len(p) for p, _ in pairs])
    for i, (p, _) in enumerate(pairs):
        prompt[i, pmax - len(p) :] = torch.tensor(p)
    clean = torch.tensor([r for _, r in pairs], dtype=torch.long)  # [B, G]
    n_blocks = gen_length // block_size
    # noise level per (row, block); at least one masked position per trained block
    t = torch.rand(b, n_blocks, generator=gen).clamp_min(1.0 / block_size)
    masked = torch.rand(b, gen_length, generator=gen) < t.repeat_interleave(block_size, dim=1)
    first_eos = (clean == EOS_ID).float().argmax(dim=1)  # [B]
    last_block = first_eos // block_size
    block_of = torch.arange(gen_length) // block_size
    in_range = block_of[None, :] <= last_block[:, None]  # [B, G]
    force = torch.randint(0, block_size, (b, n_blocks), generator=gen) + torch.arange(n_blocks) * block_size
    masked.scatter_(1, force, True)
    masked &= in_range
    noisy = torch.where(masked, torch.full_like(clean, MASK_ID), clean)
    input_ids = torch.cat([prompt, noisy, clean], dim=1)
    positions = torch.cat([torch.arange(pmax + gen_length), torch.arange(pmax, pmax + gen_length)])
    return {
        "input_ids": input_ids,
        "attn_mask": two_stream_mask(prompt_lens, pmax, gen_length, block_size),
        "position_ids": positions,
        "targets": clean,
        "masked": masked,
        "pmax": torch.tensor(pmax),
    }


def batch_loss(model: ReferenceModel, batch: dict[str, Tensor]) -> Tensor:
    pmax, g = int(batch["pmax"]), batch["targets"].shape[1]
    logits = model(batch["input_ids"], attn_mask=batch["attn_mask"], position_ids=batch["position_ids"])
    noisy_logits = logits[:, pmax : pmax + g]  # [B, G, V]
    m = batch["masked"]
    return F.cross_entropy(noisy_logits[m], batch["targets"][m])


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(frac, 1.0)))


# ------------------------------------------------------------------------------------------------
# The run.


def train(cfg: TrainConfig, out: Path, *, progress: bool = True) -> dict:
    """Train from scratch, save the checkpoint into ``out``, return the run's summary."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    model = ReferenceModel(model_config(cfg, len(tokenizer)))
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    log.info("reference model: %d parameters", n_params)
    problems = train_problems(cfg.train_size, seed=cfg.seed)
    pairs = encode_pairs(tokenizer, problems, cfg.gen_length)
    losses, seconds = train_steps(model, make_optimizer(model, cfg), pairs, cfg, progress)
    model.eval()
    save_checkpoint(model, out)
    summary = {
        "config": asdict(cfg),
        "parameters": n_params,
        "train_seconds": round(seconds, 1),
        "final_loss": round(sum(losses[-100:]) / len(losses[-100:]), 4),
        "checkpoint_bytes": sum(f.stat().st_size for f in out.iterdir() if f.is_file() and f.suffix != ".png"),
    }
    write_loss_curve(losses, out / "loss_curve.png")
    (out / "loss.json").write_text(json.dumps([round(x, 5) for x in losses]))
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    if cfg.eval_size:
        from freedave.demo import evaluate
        from freedave.models.loading import load

        summary["heldout"] = evaluate(load(out), ReferenceTask().problems(cfg.eval_size))
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def make_optimizer(model: ReferenceModel, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms and biases)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.98),
    )


def train_steps(model: ReferenceModel, opt: torch.optim.Optimizer, pairs: list[tuple[list[int], list[int]]],
                cfg: TrainConfig, progress: bool) -> tuple[list[float], float]:
    """``cfg.steps`` optimizer steps over shuffled epochs of ``pairs``: every step's loss, seconds."""
    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(pairs), generator=gen).tolist()
    losses: list[float] = []
    started = time.perf_counter()
    bar = _progress(progress)
    with bar:
        task = bar.add_task("training", total=cfg.steps, loss=float("nan"))
        cursor = 0
        for step in range(cfg.steps):
            if cursor + cfg.batch_size > len(order):
                order, cursor = torch.randperm(len(pairs), generator=gen).tolist(), 0
            batch = make_batch([pairs[i] for i in order[cursor : cursor + cfg.batch_size]], cfg.block_size, gen)
            cursor += cfg.batch_size
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg)
            loss = batch_loss(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            losses.append(loss.item())
            smooth = sum(losses[-50:]) / len(losses[-50:])
            bar.update(task, advance=1, loss=smooth)
            if step % 100 == 0 or step == cfg.steps - 1:
                log.info("step %d loss %.4f (%.0fs)", step, smooth, time.perf_counter() - started)
    return losses, time.perf_counter() - started


def save_checkpoint(model: ReferenceModel, out: Path) -> None:
    """config.json + model.safetensors + tokenizer files."""
    model.save_pretrained(str(out), safe_serialization=True)
    save_tokenizer(out)
    specials = {"pad_token": "<pad>", "bos_token": "<bos>", "eos_token": "<eos>", "mask_token": "<mask>"}
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")


def write_loss_curve(losses: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, lw=0.5, alpha=0.4, label="batch")
    k = max(1, len(losses) // 50)
    smooth = [sum(losses[max(0, i - k) : i + 1]) / len(losses[max(0, i - k) : i + 1]) for i in range(len(losses))]
    ax.plot(smooth, lw=1.5, label=f"mean of {k}")
    ax.set_xlabel("step")
    ax.set_ylabel("masked-token cross-entropy")
    ax.set_yscale("log")
    ax.set_title("freedave reference model: training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _progress(enabled: bool):  # noqa: ANN202
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )
