"""The exact prefix KV cache of one prompt: one preallocated buffer per layer, explicit positions.

Holds the keys/values of the clean prefix (the prompt and the finished blocks), ``[1, H, C, Dh]``
per layer, shared by every draft row of the prompt. A write copies into the buffer at the given
position (no concatenation per write); the buffer grows by doubling only when a write passes its
capacity, so a cache sized to the model's context never reallocates.
"""

from __future__ import annotations

from torch import Tensor


class KVCache:
    """Keys/values of positions ``0:length`` of one prompt, per layer."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity or 0  # positions the buffers are sized for (allocated on write)
        self.length = 0
        self._keys: list[Tensor] = []
        self._values: list[Tensor] = []
        # (pos, row tokens [R, n], per-layer keys, values [R, H, n, Dh]) offered by the last call
        self._offer: tuple[int, Tensor, list[Tensor], list[Tensor]] | None = None

    def layer(self, i: int, lo: int = 0, hi: int | None = None) -> tuple[Tensor, Tensor]:
        """Layer ``i``'s keys and values of cached positions ``lo:hi`` (default: all),
        ``[1, H, hi - lo, Dh]`` each."""
        hi = self.length if hi is None else min(hi, self.length)
        return self._keys[i][:, :, lo:hi], self._values[i][:, :, lo:hi]

    def write(self, pos: int, keys: list[Tensor], values: list[Tensor]) -> None:
        """Store per-layer ``[1, H, n, Dh]`` keys/values as positions ``pos:pos+n``.

        ``pos`` may rewind (``pos < length``): the cache then holds ``0:pos+n``; it may not skip
        ahead, which would leave positions unset."""
        if pos > self.length:
            raise ValueError(f"cache holds {self.length} positions, cannot write at {pos}")
        self._offer = None  # offered keys were computed against the cache as it was
        stop = pos + keys[0].shape[2]
        self._reserve(stop, keys[0], len(keys))
        for buf, new in zip(self._keys, keys, strict=True):
            buf[:, :, pos:stop] = new
        for buf, new in zip(self._values, values, strict=True):
            buf[:, :, pos:stop] = new
        self.length = stop

    def offer(self, pos: int, tokens: Tensor, keys: list[Tensor], values: list[Tensor]) -> None:
        """Keep the per-row keys/values of positions ``pos:pos+n`` that a call computed on its way to
        later positions (rows ``tokens [R, n]``; ``[R, H, n, Dh]`` per layer; the cache must end at
        ``pos``). When the prompt's committed state then holds one row's tokens there (FreeDave
        accepted a draft that finished the block), ``catch_up`` writes them instead of a forward
        computing the block again. Replaced by the next offer, dropped by any write."""
        if self.length == pos:
            self._offer = (pos, tokens, keys, values)

    def catch_up(self, tokens: Tensor, start: int) -> bool:
        """Extend the cache to ``start`` with offered keys/values when the cache ends one offered
        block before ``start`` and an offered row holds exactly ``tokens[pos:start]`` (``tokens``:
        the committed canvas, ``[L]``). True when it did. Bit-exact: every op of the forward is
        batch-invariant, so a row's keys do not depend on the call that computed them."""
        offer = self._offer
        if offer is None or offer[0] != self.length or offer[0] + offer[1].shape[1] != start:
            return False
        hit = (offer[1] == tokens[offer[0] : start].to(offer[1].device)).all(dim=1).nonzero()
        if hit.numel() == 0:
            return False
        r = int(hit[0, 0])
        self.write(offer[0], [k[r : r + 1] for k in offer[2]], [v[r : r + 1] for v in offer[3]])
        return True

    def _reserve(self, n: int, like: Tensor, layers: int) -> None:
        """Make the buffers hold at least ``n`` positions, keeping what they hold."""
        if self._keys and n <= self._keys[0].shape[2]:
            return
        size = max(n, self.capacity, 2 * (self._keys[0].shape[2] if self._keys else 0))
        shape = (like.shape[0], like.shape[1], size, like.shape[3])
        grown = [[like.new_empty(shape) for _ in range(layers)] for _ in range(2)]
        for old, new in zip([*self._keys, *self._values], [*grown[0], *grown[1]], strict=False):
            new[:, :, : self.length] = old[:, :, : self.length]
        self._keys, self._values = grown
        self.capacity = size
