"""Cluster dispatch (app/ray_dispatch.py): a studio job trains on a Ray cluster started here on loopback, through
Ray's Jobs API; a cancel in the studio stops the Ray job; an unreachable cluster is one clear error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from anchortune.app import datasets, jobs
from anchortune.app.workspace import StudioConfig, Workspace
from anchortune.errors import RunError
from anchortune.jobs import states


def _status(client, submission: str) -> str | None:
    try:
        return str(client.get_job_status(submission))
    except RuntimeError:  # not submitted yet
        return None

pytestmark = pytest.mark.ray_cluster


@pytest.fixture(scope="module")
def ray_head(free_port):
    """A Ray head on loopback with its dashboard (the Jobs API), stopped afterwards."""
    pytest.importorskip("ray.job_submission", reason="Ray is not installed (pip install 'anchortune[cluster]')")
    ray = Path(sys.executable).with_name("ray")
    if not ray.is_file():
        pytest.skip(f"no ray command beside {sys.executable}")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    port, dashboard = free_port(), free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = subprocess.run([str(ray), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                              "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard), "--num-cpus", "2",
                              "--object-store-memory", str(80 * 2**20), "--include-dashboard", "true",
                              "--disable-usage-stats", "--temp-dir", temp],
                             env=env, capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        shutil.rmtree(temp, ignore_errors=True)
        pytest.skip(f"Ray could not start a local head: {started.stderr.strip().splitlines()[-1:]}")
    yield f"http://127.0.0.1:{dashboard}"
    subprocess.run([str(ray), "stop", "--force"], env=env, capture_output=True, timeout=120)
    shutil.rmtree(temp, ignore_errors=True)


def _job(ws, support_file, **options) -> dict:
    file_id = datasets.upload(ws, "support.jsonl", [support_file.read_bytes()])["id"]
    return jobs.create_job(ws, "tiny", file_id, options={"task": "support", "batch_size": 4, "precision": "fp32",
                                                         "force": True, **options})


def test_a_studio_job_trains_on_a_local_ray_cluster_end_to_end(tmp_path, tiny_model_dir, support_file, ray_head):
    from anchortune.app.ray_dispatch import RayDispatch

    ws = Workspace(StudioConfig(data_dir=tmp_path / "studio", models={"tiny": str(tiny_model_dir)}, lease_s=30))
    job = _job(ws, support_file, max_steps=4, eval_every=2)
    worker = jobs.worker(ws, "ray-worker", RayDispatch(ray_head, sys.executable, poll_s=0.3))
    worker.run_once()  # validation, here
    worker.run_once()  # training, on the cluster
    done = ws.store.job(job["id"])
    assert done["status"] == states.SUCCEEDED, done["error"]
    run = Path(done["run_dir"])
    assert (run / "summary.json").is_file() and (run / "adapter").is_dir() and (run / "quality.json").is_file()
    messages = [e["message"] for e in jobs.events(ws, job["id"])]
    assert any("submitted to the Ray cluster" in m for m in messages)
    assert any(m.startswith("step 4: validation loss") for m in messages)
    assert any(m.startswith("verdict:") for m in messages)
    chosen = jobs.summary(ws, job["id"])["training"]["best_step"]  # retention: the chosen checkpoint and the last
    assert sorted(c["step"] for c in jobs.checkpoints(ws, job["id"])) == sorted({chosen, 4})
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_head)
    assert str(client.get_job_status(f"anchortune-{job['id']}-1")) == "SUCCEEDED"


def test_a_cancel_in_the_studio_stops_the_ray_job(tmp_path, tiny_model_dir, support_file, ray_head, wait_for):
    from ray.job_submission import JobSubmissionClient

    from anchortune.app.ray_dispatch import RayDispatch

    ws = Workspace(StudioConfig(data_dir=tmp_path / "studio", models={"tiny": str(tiny_model_dir)}, lease_s=30))
    job = _job(ws, support_file, max_steps=3000, eval_every=1000)
    worker = jobs.worker(ws, "ray-worker", RayDispatch(ray_head, sys.executable, poll_s=0.3))
    worker.run_once()
    thread = threading.Thread(target=worker.run_once, daemon=True)
    thread.start()
    client = JobSubmissionClient(ray_head)
    wait_for(lambda: any("submitted to the Ray cluster" in e["message"] for e in jobs.events(ws, job["id"])) and
             _status(client, f"anchortune-{job['id']}-1") == "RUNNING", what="the Ray job running")
    jobs.cancel_job(ws, job["id"])
    thread.join(120)
    assert ws.store.job(job["id"])["status"] == states.CANCELLED
    wait_for(lambda: str(client.get_job_status(f"anchortune-{job['id']}-1")) == "STOPPED", what="Ray's stop")


def test_an_unreachable_cluster_is_one_clear_error(tmp_path):
    pytest.importorskip("ray.job_submission", reason="Ray is not installed")
    from anchortune.app.ray_dispatch import RayDispatch

    with pytest.raises(RunError, match="cannot reach the Ray cluster at http://127.0.0.1:9"):
        RayDispatch("http://127.0.0.1:9").client()


def test_a_worker_taking_over_follows_the_running_ray_job_and_resubmits_one_that_ended(tmp_path, tiny_model_dir,
                                                                                       support_file, ray_head,
                                                                                       wait_for):
    from ray.job_submission import JobSubmissionClient

    from anchortune.app.ray_dispatch import RayDispatch
    from anchortune.jobs.worker import JobCancelled, JobContext, LeaseLost

    ws = Workspace(StudioConfig(data_dir=tmp_path / "studio", models={"tiny": str(tiny_model_dir)}, lease_s=30))
    job = _job(ws, support_file, max_steps=3000, eval_every=1000)
    jobs.worker(ws, "validator").run_once()  # validation: the job is queued with its stored report
    row = ws.store.job(job["id"])
    dispatch, client = RayDispatch(ray_head, sys.executable, poll_s=0.3), JobSubmissionClient(ray_head)
    first = JobContext(ws.store, row, "worker-a")
    ended: dict[str, type] = {}

    def follow(ctx):
        try:
            dispatch.train(ws, ctx)
            ended[ctx.worker] = type(None)
        except BaseException as exc:  # noqa: BLE001  (what ended the worker is the assertion)
            ended[ctx.worker] = type(exc)

    died = threading.Thread(target=follow, args=(first,), daemon=True)
    died.start()
    wait_for(lambda: _status(client, f"anchortune-{job['id']}-1") == "RUNNING", what="the Ray job")
    first.lost.set()  # worker A is presumed dead: it stops following, the Ray job trains on
    died.join(60)
    assert str(client.get_job_status(f"anchortune-{job['id']}-1")) == "RUNNING"
    second = JobContext(ws.store, row, "worker-b")
    follows = threading.Thread(target=follow, args=(second,), daemon=True)
    follows.start()
    wait_for(lambda: any("following Ray job" in e["message"] for e in jobs.events(ws, job["id"])),
             what="worker B attaching")
    second.cancelled.set()
    follows.join(60)
    wait_for(lambda: str(client.get_job_status(f"anchortune-{job['id']}-1")) == "STOPPED", what="Ray's stop")
    third = JobContext(ws.store, row, "worker-c")  # the Ray job has ended unfinished: submitted again
    resumed = threading.Thread(target=follow, args=(third,), daemon=True)
    resumed.start()
    wait_for(lambda: _status(client, f"anchortune-{job['id']}-2") == "RUNNING", what="the resubmission")
    third.cancelled.set()
    resumed.join(60)
    messages = [e["message"] for e in jobs.events(ws, job["id"])]
    assert sum("submitted to the Ray cluster" in m for m in messages) == 2
    assert ended == {"worker-a": LeaseLost, "worker-b": JobCancelled, "worker-c": JobCancelled}
