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
        stop = pos + keys[0].shape[2]
        self._reserve(stop, keys[0], len(keys))
        for buf, new in zip(self._keys, keys, strict=True):
            buf[:, :, pos:stop] = new
        for buf, new in zip(self._values, values, strict=True):
            buf[:, :, pos:stop] = new
        self.length = stop

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
