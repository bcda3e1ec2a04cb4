"""From finished token ids to final text: stop strings, ``max_tokens`` and what is safe to send.

One ``TextTracker`` per row, fed by the decode's progress reports (finished blocks) and its final
Result; streamed and non-streamed responses use the same tracker, so their texts are equal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT = "\ufffd"  # a prefix may end inside a multi-byte character


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the earliest stop string starts in ``text`` (None: no stop string in it)."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None


class TextTracker:
    """Turns a growing list of final token ids into text deltas, cut at the first stop string."""

    def __init__(self, detokenize: Callable[[list[int]], str], stops: Sequence[str], max_tokens: int) -> None:
        self.detokenize = detokenize
        self.stops = [s for s in stops if s]
        self.max_tokens = max_tokens
        self.ids: list[int] = []
        self.sent = ""  # text already handed out
        self.stopped = False  # a stop string was found: the text is final
        self.stop_at: int | None = None

    def update(self, ids: list[int], final: bool = False) -> str:
        """New text that no later token can change; ``final``: the row is done, send the rest."""
        if self.stopped:
            return ""
        self.ids = list(ids[: self.max_tokens])
        text = self.detokenize(self.ids)
        cut = first_stop(text, self.stops)
        if cut is not None:
            self.stopped, self.stop_at, safe = True, cut, text[:cut]
        elif final or len(ids) >= self.max_tokens:
            safe = text
        else:  # hold back what a later token could still turn into a stop string or a character
            hold = max((len(s) - 1 for s in self.stops), default=0)
            safe = text[: len(text) - hold] if hold else text
            safe = safe.rstrip(REPLACEMENT)
        if not safe.startswith(self.sent) or len(safe) <= len(self.sent):
            return ""
        delta, self.sent = safe[len(self.sent) :], safe
        return delta

    @property
    def finish_reason(self) -> str:
        """``stop`` for a stop string or EOS, ``length`` when ``max_tokens`` ran out."""
        return "stop" if self.stopped or len(self.ids) < self.max_tokens else "length"

    @property
    def completion_tokens(self) -> int:
        """Tokens generated up to and including the one that completed the stop string."""
        if not self.stopped:
            return len(self.ids)
        lo, hi = 1, len(self.ids)  # smallest prefix whose text already holds a stop string
        while lo < hi:
            mid = (lo + hi) // 2
            if first_stop(self.detokenize(self.ids[:mid]), self.stops) is not None:
                hi = mid
            else:
                lo = mid + 1
        return lo
