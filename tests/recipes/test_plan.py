"""The data-sufficiency plan on the tiny model (app/plan.py, `anchortune plan`): nested subsets trained, a curve
with predictions and its own check, per-label figures; too little data is refused with the reason."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from anchortune.recipes.plan import plan_data
from anchortune.cli.main import app
from anchortune.data.demo_support import support_demo
from anchortune.data.loading import save_anchor_points
from anchortune.errors import DataError


@pytest.fixture(scope="module")
def anchors(tmp_path_factory):
    return save_anchor_points(support_demo(n_per_intent=6), tmp_path_factory.mktemp("plan") / "support.jsonl")


def test_a_plan_trains_nested_subsets_and_predicts_what_more_data_buys(anchors, tiny_model_dir):
    result = plan_data(anchors, "support", str(tiny_model_dir), fractions=(0.25, 0.5, 0.75, 1.0), epochs=4)
    sizes = result["sizes"]
    assert sizes == sorted(sizes) and sizes[-1] == result["train"] and len(sizes) == 4
    assert result["held_out"] >= 12 and result["train"] + result["held_out"] == result["examples"]
    assert len(result["losses"]) == 4 and all(loss > 0 for loss in result["losses"])
    assert result["losses"][-1] < result["base_loss"]  # training on the anchor points did lower the loss
    double, quadruple = result["predictions"]
    assert double["examples"] == 2 * result["train"] and double["low"] <= double["loss"] <= double["high"]
    assert quadruple["loss"] <= double["loss"] + 1e-9  # the fitted curve does not rise
    check = result["backtest"]
    assert check["from"] == sizes[:-1] and check["measured"] == result["losses"][-1]
    assert set(result["labels"]) == {p.label for p in support_demo(n_per_intent=6)}
    for s in result["suggestions"]:
        assert s["loss"] > result["losses"][-1] and s["label"] in result["labels"]


def test_the_plan_command_prints_the_curve_and_writes_it(anchors, tiny_model_dir, tmp_path):
    out = tmp_path / "plan.json"
    done = CliRunner().invoke(app, ["plan", str(anchors), "--task", "support", "--model", str(tiny_model_dir),
                                    "--fractions", "0.5,1", "--epochs", "1", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "learning curve" in done.output and "(predicted)" in done.output and "twice the data" in done.output
    assert json.loads(out.read_text())["sizes"] == [round(0.5 * json.loads(out.read_text())["train"]),
                                                     json.loads(out.read_text())["train"]]


def test_too_few_anchor_points_for_a_curve_are_refused_with_the_reason(tmp_path, tiny_model_dir):
    few = save_anchor_points(support_demo(n_per_intent=1)[:10], tmp_path / "few.jsonl")
    with pytest.raises(DataError, match="at least 24"):
        plan_data(few, "support", str(tiny_model_dir))
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "anchortune", "plan", str(few), "--model", str(tiny_model_dir),
                           "--fractions", "0,1"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "every share must lie in (0, 1]" in done.stderr and "Traceback" not in done.stderr
