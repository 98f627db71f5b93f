"""A studio job through the application layer: one quality gate per job (training is handed the report its
validation stored), the worker's two steps, and the report carried into the run folder."""

from __future__ import annotations

import json
from pathlib import Path

from anchortune.app import datasets, jobs
from anchortune.app.workspace import StudioConfig, Workspace
from anchortune.jobs import states


def test_a_job_is_gated_once_and_trains_with_the_stored_report(tmp_path, tiny_model_dir, support_file, monkeypatch):
    ws = Workspace(StudioConfig(data_dir=tmp_path / "studio", models={"tiny": str(tiny_model_dir)}, lease_s=30))
    file_id = datasets.upload(ws, "support.jsonl", [support_file.read_bytes()])["id"]
    job = jobs.create_job(ws, "tiny", file_id, options={"task": "support", "max_steps": 4, "batch_size": 4,
                                                         "precision": "fp32", "eval_every": 2, "force": True})
    calls = []
    real = datasets.check_data
    monkeypatch.setattr(datasets, "check_data", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    worker = jobs.worker(ws, "test-worker")
    for _ in range(4):
        if ws.store.job(job["id"])["status"] in states.FINAL:
            break
        worker.run_once()
    done = ws.store.job(job["id"])
    assert done["status"] == states.SUCCEEDED, done["error"]
    assert len(calls) == 1  # validation's gate; training took its stored report
    stored = json.loads((ws.data / "reports" / f"{job['id']}.quality.json").read_text(encoding="utf-8"))
    in_run = json.loads((Path(done["run_dir"]) / "quality.json").read_text(encoding="utf-8"))
    assert in_run == stored and (Path(done["run_dir"]) / "quality.html").is_file()
    messages = [e["message"] for e in jobs.events(ws, job["id"])]
    assert sum(m.startswith("anchor point quality") for m in messages) == 1


def test_a_stored_report_reads_back_as_the_same_report(support_file):
    from anchortune.quality.report import QualityReport

    report = datasets.check_data(support_file, task="support")
    again = QualityReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again.to_json() == report.to_json() and again.summary() == report.summary()
