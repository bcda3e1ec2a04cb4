from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from freedave.models.loading import REFERENCE_PATH


@pytest.fixture
def checkpoint_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled checkpoint's files."""
    out = tmp_path / "ckpt"
    out.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(REFERENCE_PATH / name, out / name)
    return out
