"""The errors every layer raises: one line each, meant for the user.

They sit on the ground floor (no imports from the package), so decoding, models, tasks and every
entry point share them. Each is a ``ValueError`` so plain Python callers can catch that.
"""

from __future__ import annotations


class DecodeError(ValueError):
    """Bad input or bad model output; the message is one line meant for the user."""


class OptionError(DecodeError):
    """An option has a value outside its vocabulary or range (``draft_depth must be >= 1 ...``)."""


class ModelError(DecodeError):
    """A model cannot be opened: unknown name, missing or corrupt files, unsupported layout."""


def one_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (its type name if it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
