"""A worker killed with SIGKILL mid-run: the next worker resumes the job from its last checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from anchortune.jobs import states
from anchortune.app.workspace import StudioConfig, Workspace
from anchortune.app import datasets, jobs

OPTIONS = {"task": "support", "batch_size": 4, "max_length": 256, "precision": "fp32", "learning_rate": 3e-3,
           "eval_every": 4, "val_fraction": 0.25, "max_steps": 120, "patience": 0}


def start_worker(data, model_dir, name: str) -> subprocess.Popen:
    env = {**os.environ, "ANCHORTUNE_LEASE_S": "2"}
    return subprocess.Popen([sys.executable, "-m", "anchortune", "worker", "--data", str(data),
                             "--model", f"tiny={model_dir}", "--name", name], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_kill_9_mid_run_then_a_new_worker_resumes_without_a_gap(tmp_path, tiny_model_dir, support_file, wait_for):
    data = tmp_path / "studio"
    studio = Workspace(StudioConfig(data_dir=data, models={"tiny": str(tiny_model_dir)}, lease_s=2))
    file_id = datasets.upload(studio, "support.jsonl", [support_file.read_bytes()])["id"]
    job_id = jobs.create_job(studio, "tiny", file_id, options=OPTIONS)["id"]

    first = start_worker(data, tiny_model_dir, "first")
    try:
        wait_for(lambda: len(studio.store.checkpoints(job_id)) >= 2, 180, "two checkpoints")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    job = studio.store.job(job_id)
    assert job["status"] == states.RUNNING and job["worker"] == "first"
    killed_at = max(c["step"] for c in studio.store.checkpoints(job_id))
    assert killed_at < 120, "the run finished before the kill; nothing was tested"

    second = start_worker(data, tiny_model_dir, "second")
    try:
        done = wait_for(lambda: (j := studio.store.job(job_id))["status"] in states.FINAL and j, 240, "the job")
    finally:
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=20)
    assert done["status"] == states.SUCCEEDED, (done["error"], stderr.decode()[-2000:])
    assert done["attempts"] == 3  # validating (first), running (first), resumed (second)

    events = studio.store.events(job_id)
    starts = [e for e in events if e["message"].startswith(("training started", "training resumed"))]
    resumed = [e["data"]["resumed_from"] for e in starts]
    assert resumed[0] == 0 and resumed[-1] >= 4 and resumed[-1] % 4 == 0  # from a complete checkpoint, not 0
    assert any("resuming from the checkpoint" in e["message"] for e in events)

    rows = [json.loads(l) for l in (data / "runs" / job_id / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in rows if "train_loss" in r]
    eval_steps = [r["step"] for r in rows if "valid_loss" in r]
    assert train_steps == list(range(2, 121, 2))  # every logged step once: no gap, no repeat
    assert eval_steps == list(range(4, 121, 4))
    stored = [e["data"]["step"] for e in events if e["type"] == "metrics" and "valid_loss" in e["data"]]
    assert stored == eval_steps
    chosen = jobs.summary(studio, job_id)["training"]["best_step"]  # retention keeps the chosen one and the last
    assert [c["step"] for c in studio.store.checkpoints(job_id)] == sorted({chosen, 120}, reverse=True)
    assert done["trained_tokens"] == json.loads((data / "runs" / job_id / "checkpoints" / "checkpoint-120" /
                                                 "trainer_state.json").read_text())["num_input_tokens_seen"]
