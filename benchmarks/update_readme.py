"""Put the headline table of a bench result into README.md between the bench:headline markers.

Usage: python benchmarks/update_readme.py benchmarks/results/results.json README.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from freedave.bench.report import markdown_table
from freedave.bench.rows import BenchResult

START, END = "<!-- bench:headline:start -->", "<!-- bench:headline:end -->"


def headline(result: BenchResult) -> str:
    m = result.meta
    hw = f"{m['gpu'] + ' GPU, ' if m.get('gpu') else ''}{m['cpu']} ({m['cpu_count']} cores, {m['threads']} torch threads)"
    return (f"{markdown_table(result)}\n\nMeasured on {hw}, {m['device']} {m['dtype']}, torch {m['versions']['torch']}, "
            f"{m['date'][:10]}; command and details in [benchmarks/results/report.md](benchmarks/results/report.md).")


def main(json_path: str, readme_path: str) -> None:
    result = BenchResult.from_json(json.loads(Path(json_path).read_text()))
    readme = Path(readme_path)
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{headline(result)}\n{END}{tail}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
