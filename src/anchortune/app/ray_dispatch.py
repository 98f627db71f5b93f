"""Cluster dispatch: a studio worker whose jobs train on a Ray cluster, through Ray's Jobs API.

`anchortune worker --ray http://HEAD:8265` claims jobs from the studio's store as any worker does and validates
them here (the quality gate, its report stored); the training is submitted as a Ray job whose entrypoint is this
run entry (`python -m anchortune.recipes.launched SPEC`), which runs the task run on a cluster node, and from
there, for `devices` > 1, torch.distributed.run (train/distributed.py). The cluster's nodes must reach the
studio's data folder at the same path (a shared filesystem: the anchor points, the run folder) and have
anchortune installed (`--ray-python` names its interpreter there).

States: Ray's PENDING and RUNNING keep the job running; SUCCEEDED reads the run's summary; FAILED fails the job
with Ray's last log line; STOPPED (stopped in Ray) cancels it. A cancel in the studio stops the Ray job. The
submission (its id, per attempt) is recorded under the data folder, so a worker that takes a job over after its
worker died attaches to a Ray job that is still running instead of submitting it twice, and submits a resume
(from the last checkpoint) when the Ray job had ended without finishing. Progress comes from the run folder's
metrics.jsonl as the Ray job appends to it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from anchortune.errors import RunError
from anchortune.jobs.worker import JobCancelled, JobContext, LeaseLost

POLL_S = 1.0
LIVE = ("PENDING", "RUNNING")


@dataclass
class RayDispatch:
    """Where jobs train: the Ray dashboard's address and the Python that runs anchortune on the cluster."""

    address: str
    python: str = "python"
    poll_s: float = POLL_S

    def client(self):
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError:
            raise RunError("the Ray worker needs Ray's job client: pip install 'anchortune[cluster]' "
                           "(ray[default])") from None
        try:
            return JobSubmissionClient(self.address)
        except Exception as exc:  # connection refused, not a Ray dashboard: said in words
            raise RunError(f"cannot reach the Ray cluster at {self.address}: {exc}") from None

    def train(self, ws, ctx: JobContext) -> dict:
        """Submit (or attach to) the job's training on the cluster and follow it to the end; the fields of the
        succeeded job (as app.jobs.train_job returns them)."""
        from anchortune.app import jobs
        from anchortune.app.recorder import JobRecorder
        from anchortune.run_folder import RunFolder
        from anchortune.train.distributed import _follow

        client = self.client()
        row = ctx.job
        folder = RunFolder(jobs.run_folder(ws, row["id"]))
        record = _record_path(ws, row["id"])
        previous = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
        recorder = JobRecorder(ctx, ws.store)
        if previous and _status(client, previous["submission_id"]) in LIVE:
            submission = previous["submission_id"]
            ctx.report("info", f"following Ray job {submission} (still running on the cluster)")
        else:
            submission = self._submit(client, ws, ctx, folder, record, (previous or {}).get("attempt", 0) + 1)
        metrics = folder.metrics
        seen = _stored_rows(ws, row["id"], metrics)
        try:
            while True:
                ctx.check()
                status = str(client.get_job_status(submission))
                seen = _follow(metrics, seen, recorder)
                if status not in LIVE:
                    break
                time.sleep(self.poll_s)
        except JobCancelled:
            client.stop_job(submission)
            raise
        except LeaseLost:  # another worker follows it now
            raise
        if status == "STOPPED":
            raise JobCancelled(row["id"])
        if status != "SUCCEEDED":
            raise RunError(f"Ray job {submission} {status.lower()}: {_last_line(client.get_job_logs(submission))}")
        from anchortune.app import retention
        from anchortune.messages import say

        summary = json.loads(folder.summary.read_text(encoding="utf-8"))
        said = summary.get("verdict") or (summary.get("balance") or {}).get("diagnosis")
        if said:
            ctx.report("info", say("log_verdict", verdict=said["verdict"], reason=said["reason"]))
        retention.after_success(ws, ctx, summary)
        return {**jobs.finished_fields(row, summary, folder.root), "disk_bytes": retention.folder_bytes(folder.root)}

    def _submit(self, client, ws, ctx: JobContext, folder, record: Path, attempt: int) -> str:
        from anchortune.app import jobs

        row = ctx.job
        last = folder.last_checkpoint_step() if folder.is_run() else None
        resume = jobs.prepare_folder(ws, ctx, folder, last)
        cfg = jobs.run_config(ws, row)
        spec = record.with_suffix(".spec.json")
        spec.write_text(json.dumps({"config": cfg.model_dump(), "out": str(folder.root), "resume": resume,
                                    "quality": jobs.stored_quality(ws, row["id"])}), encoding="utf-8")
        resources = {"entrypoint_num_gpus": cfg.devices} if _wants_gpus(cfg) else {}
        submission = client.submit_job(entrypoint=f"{self.python} -m anchortune.recipes.launched {spec}",
                                       submission_id=f"anchortune-{row['id']}-{attempt}",
                                       metadata={"anchortune_job": row["id"]}, **resources)
        record.write_text(json.dumps({"submission_id": submission, "address": self.address, "attempt": attempt}),
                          encoding="utf-8")
        ctx.report("info", f"submitted to the Ray cluster at {self.address} as {submission}"
                           f"{' (resuming from step ' + str(last) + ')' if resume else ''}")
        return submission


def _status(client, submission: str) -> str | None:
    """A Ray job's status, or None where the cluster does not know it (restarted, or another cluster)."""
    try:
        return str(client.get_job_status(submission))
    except RuntimeError:  # the Jobs API answers 404 as a RuntimeError
        return None


def _wants_gpus(cfg) -> bool:
    """GPUs for the Ray job's entrypoint: where this machine's torch sees CUDA, one per device."""
    import torch

    return torch.cuda.is_available()


def _record_path(ws, job_id: str) -> Path:
    folder = ws.data / "dispatch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{job_id}.ray.json"


def _stored_rows(ws, job_id: str, metrics: Path) -> int:
    """Lines of metrics.jsonl already stored as job metrics (an attaching worker does not store them twice)."""
    if not metrics.is_file():
        return 0
    stored = {(e["data"] or {}).get("step") for e in ws.store.events(job_id) if e.get("type") == "metrics"
              and e.get("data")}
    lines = metrics.read_text(encoding="utf-8").splitlines()
    count = 0
    for line in lines:
        if not line.strip() or json.loads(line).get("step") not in stored:
            break
        count += 1
    return count


def _last_line(logs: str) -> str:
    lines = [line.strip() for line in (logs or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no log"
