"""Dependencies by need: the decoders and the top-level package import torch, not transformers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_decoding_and_package_do_not_import_transformers() -> None:
    out = _run(
        "import sys, freedave, freedave.decoding\n"
        "assert 'transformers' not in sys.modules, 'transformers imported'\n"
        "assert 'freedave.models.loading' not in sys.modules\n"
        "print(freedave.Static().name)\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "static"


def test_lazy_names_resolve_and_register_auto_classes() -> None:
    out = _run(
        "import sys, freedave\n"
        "from freedave.models.loading import REFERENCE_PATH\n"
        "assert 'transformers' not in sys.modules\n"
        "m = freedave.load('reference')\n"
        "assert isinstance(m, freedave.Loaded) and callable(freedave.generate)\n"
        "from transformers import AutoConfig\n"
        "print(type(AutoConfig.from_pretrained(str(REFERENCE_PATH))).__name__)\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ReferenceConfig"


def test_import_after_transformers_registers() -> None:
    out = _run(
        "import transformers, freedave\n"
        "from freedave.models.loading import REFERENCE_PATH\n"
        "print(transformers.AutoConfig.from_pretrained(str(REFERENCE_PATH)).model_type)\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "freedave_reference"


def test_unknown_attribute_is_an_attribute_error() -> None:
    out = _run("import freedave\ntry:\n    freedave.nope\nexcept AttributeError as e:\n    print(e)\n")
    assert "no attribute 'nope'" in out.stdout
