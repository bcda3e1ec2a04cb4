"""lm-eval-harness integration: the ``freedave`` model (``FreeDaveLM``) and its helpers.

Importing this package registers the model with lm-eval (the ``eval`` extra); nothing else in
freedave imports lm_eval.
"""

from __future__ import annotations

try:
    import lm_eval  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    from freedave.errors import DecodeError

    raise DecodeError("freedave eval needs lm-eval; install the extra: pip install 'freedave[eval]'") from e

from freedave.eval.lm import FreeDaveLM

__all__ = ["FreeDaveLM"]
