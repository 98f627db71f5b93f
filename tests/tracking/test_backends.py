"""Tracking without a training: the backends are optional and checked before any work, a backend failing mid-run is
said once while the run goes on, a resumed run's TensorBoard curves carry no step twice, and lineage records the data
a run folder holds (the --fix changelog copied in and sealed)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from anchortune import tracking
from anchortune.config import RunConfig
from anchortune.errors import ConfigError, RunError
from anchortune.run_folder import RunFolder, sha256
from anchortune.tracking import compare, lineage


def test_a_missing_backend_is_refused_before_any_work(tmp_path, support_file, monkeypatch):
    from anchortune.app import runs

    monkeypatch.setitem(tracking.PACKAGES, "mlflow", "anchortune_no_such_package")
    cfg = RunConfig.build(data=str(support_file), task="support", track="mlflow")
    with pytest.raises(ConfigError, match=r"pip install 'anchortune\[track\]'") as refused:
        runs.train_run(cfg, tmp_path / "run")
    assert refused.value.param == "track" and not (tmp_path / "run").exists()


@pytest.mark.parametrize("values, says", [
    ({"track": "tensorboard", "tracking_uri": "http://mlflow:5000"}, "--tracking-uri is for --track mlflow"),
    ({"track": "mlflow", "tracking_uri": "https://someone:secret@mlflow.example.org"}, "MLFLOW_TRACKING_PASSWORD"),
])
def test_a_tracking_uri_is_for_mlflow_and_holds_no_credentials(values, says):
    with pytest.raises(ConfigError, match=says):
        tracking.require(RunConfig.build(data="x.jsonl", **values))
    assert RunConfig.build(data="x.jsonl").track == "none"
    with pytest.raises(ConfigError, match="--track must be one of none, tensorboard, mlflow"):
        RunConfig.build(data="x.jsonl", track="wandb")


class Failing:
    backend = "mlflow"
    where = {"backend": "mlflow"}

    def __init__(self):
        self.closed = []

    def metrics(self, step, values):
        raise ConnectionError("server gone")

    def close(self, status):
        self.closed.append(status)


def test_a_backend_failing_mid_run_is_said_once_and_the_run_goes_on():
    told, passed = [], []
    writer = Failing()
    cfg = RunConfig.build(data="x.jsonl", track="mlflow")
    with tracking.Tracked(writer, lambda kind, message: told.append((kind, message)), cfg) as tracked:
        sink = tracked.sink(passed.append)
        for step in (1, 2, 3):
            sink(SimpleNamespace(kind="train", step=step, data={"train_loss": 1.0 / step}))
        tracked.finish({"training": {"steps": 3}}, "nowhere")
    assert [e.step for e in passed] == [1, 2, 3]  # every event reached the run's own sink
    assert told == [("warning", "experiment tracking in mlflow stopped: server gone; the training goes on without it")]
    assert writer.closed == ["FAILED"]


def test_a_resumed_run_purges_its_tensorboard_steps_after_the_checkpoint(tmp_path, track_extra):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from anchortune.tracking.tensorboard import TensorBoardWriter

    first = TensorBoardWriter(tmp_path)
    for step in (1, 2, 3, 4):  # steps 3 and 4 were logged, then the run stopped; its checkpoint is step 2
        first.metrics(step, {"train/loss": 1.0})
    first.close("KILLED")
    again = TensorBoardWriter(tmp_path, resumed_at=2)
    for step in (3, 4, 5):
        again.metrics(step, {"train/loss": 2.0})
    again.close("FINISHED")
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0),
                                                                          (5, 2.0)]


def _run_folder(tmp_path, with_fix: bool) -> RunFolder:
    data = tmp_path / "src" / "clean.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text('{"prompt": "a", "completion": "b"}\n' * 3)
    if with_fix:
        (tmp_path / "src" / "clean.changelog.jsonl").write_text(
            '{"line": 4, "action": "dropped", "reasons": ["x"]}\n'
            '{"line": 7, "action": "set aside for review", "reasons": ["y"]}\n'
            '{"line": 9, "action": "dropped", "reasons": ["z"]}\n')
    folder = RunFolder(tmp_path / "run")
    folder.write_config(RunConfig.build(data=str(data)))
    return folder


def test_lineage_names_the_data_by_hash_with_the_gate_and_the_fix_it_came_from(tmp_path):
    folder = _run_folder(tmp_path, with_fix=True)
    (folder.root / "quality.json").write_text(json.dumps({"verdict": "fair", "scores": {"relevance": 90}}))
    sealed = json.loads((folder.root / "sha256.json").read_text())
    assert sealed["data/clean.changelog.jsonl"] == sha256(tmp_path / "src" / "clean.changelog.jsonl")
    found = lineage.describe(folder.root, rows=3)
    assert found["data"] == {"file": "clean.jsonl", "sha256": sha256(tmp_path / "src" / "clean.jsonl"), "rows": 3}
    assert found["gate"] == {"verdict": "fair", "scores": {"relevance": 90}} and found["validation"] is None
    assert found["fix"] == {"changelog": "data/clean.changelog.jsonl", "sha256": sealed["data/clean.changelog.jsonl"],
                            "dropped": 2, "set_aside": 1}
    plain = lineage.describe(_run_folder(tmp_path / "other", with_fix=False).root)
    assert plain["fix"] is None and plain["gate"] is None


def test_only_finished_runs_are_compared(tmp_path):
    folder = _run_folder(tmp_path, with_fix=False)
    with pytest.raises(RunError, match="has not finished"):
        compare.compare([folder.root, folder.root])
    with pytest.raises(RunError, match="not a run folder"):
        compare.compare([tmp_path, folder.root])
