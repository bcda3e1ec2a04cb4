"""The README's Python examples run as written (on the bundled model)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    runnable = [b for b in blocks if "freedave" in b and "~/" not in b]
    assert runnable
    exec(compile("\n".join(runnable), "README.md", "exec"), {})  # noqa: S102
