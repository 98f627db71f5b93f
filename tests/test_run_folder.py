"""A run folder: what counts as a run, a fresh target, the newest complete checkpoint, and a metric curve cut
back for a resumed run."""

from __future__ import annotations

import pytest

from anchortune.config import RunConfig
from anchortune.errors import RunError
from anchortune.run_folder import RunFolder


def test_a_folder_is_a_run_by_its_config(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.is_fresh_target() and not folder.is_run()
    with pytest.raises(RunError, match="run' does not exist; expected the folder of a run"):
        folder.load_config()
    folder.root.mkdir()
    with pytest.raises(RunError, match="run' is not a run folder"):
        folder.load_config()
    folder.write_text(folder.config, RunConfig.build(data="d.jsonl", task="support").dump())
    assert folder.is_run() and not folder.is_fresh_target() and folder.load_config().task == "support"


def test_only_complete_checkpoints_count(tmp_path):
    folder = RunFolder(tmp_path)
    for step, complete in ((4, True), (8, True), (12, False)):
        path = folder.checkpoints / f"checkpoint-{step}"
        path.mkdir(parents=True)
        if complete:
            (path / "trainer_state.json").write_text("{}")
    (folder.checkpoints / "checkpoint-x").mkdir()
    assert folder.last_checkpoint_step() == 8


def test_metrics_are_cut_back_to_the_resumed_step(tmp_path):
    folder = RunFolder(tmp_path)
    for step in (1, 2, 3, 4):
        folder.append_metric({"step": step, "train_loss": 1.0 / step})
    folder.keep_metrics_until(2)
    assert [r["step"] for r in folder.read_metrics()] == [1, 2]
    assert not list(tmp_path.glob(".metrics.jsonl*"))  # written atomically: no temporary file left
