from __future__ import annotations

import json

from freedave.cli import main


def test_demo_json_reports_freedave_identical_to_static(capsys) -> None:
    assert main(["demo", "--json", "--problems", "6"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["strategy"]: r for r in report["strategies"]}
    assert set(rows) >= {"static", "threshold τ=0.9", "freedave d=8"}
    fd = rows["freedave d=8"]
    assert fd["identical_to_static"] == 1.0
    assert fd["accuracy"] == rows["static"]["accuracy"]
    assert fd["nfe"] < rows["static"]["nfe"]
    assert report["example"]["freedave_nfe"] < report["example"]["static_nfe"]


def test_demo_table(capsys) -> None:
    assert main(["demo", "--problems", "3"]) == 0
    out = capsys.readouterr().out
    assert "freedave" in out and "static:" in out and "FreeDave d=8" in out
