"""`anchortune validate` and `check` on preference pairs: read as pairs, judged by the pairs' own gate, a bad pair
file named by line and field."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from anchortune.cli.main import app
from anchortune.errors import DataError

runner = CliRunner()
THINGS = ("order", "parcel", "refund", "invoice", "account", "card", "voucher", "delivery")


def pairs(n: int) -> list[dict]:
    return [{"prompt": f"When does my {t} number {i} arrive?", "chosen": f"Your {t} arrives today, I checked.",
             "rejected": f"No idea about the {t}."} for i, t in ((i, THINGS[i % 8]) for i in range(n))]


def test_validate_reads_pairs_and_names_a_bad_row_by_line_and_field(write_lines):
    result = runner.invoke(app, ["validate", str(write_lines("pairs.jsonl", pairs(6)))])
    assert result.exit_code == 0 and "6 preference pairs" in result.output
    bad = pairs(3)
    bad[2]["chosen"] = 17
    result = runner.invoke(app, ["validate", str(write_lines("bad.jsonl", bad))])
    assert isinstance(result.exception, DataError) and result.exception.exit_code == 2
    assert "bad.jsonl, line 3, field 'chosen'" in str(result.exception)


def test_check_judges_pairs_with_the_pair_gate(write_lines, tmp_path, tiny_model_dir):
    rows = pairs(12)
    rows[4]["rejected"] = rows[4]["chosen"]  # identical sides: an error of the pair gate
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["check", str(write_lines("pairs.jsonl", rows)), "--model", str(tiny_model_dir),
                                 "--json", str(out)])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(out.read_text())
    codes = {(f["line"], f["code"]) for f in report["findings"]}
    assert (5, "identical_sides") in codes, codes
    assert report["examples"] == 12
    assert ": 12 preference pairs; relevance" in result.stdout.splitlines()[0]  # counted as what they are
    assert "checking preference pairs" in result.stderr and "anchor points" not in result.stderr  # named so
