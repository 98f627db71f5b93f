"""Stored rows as the objects OpenAI's API returns (files, jobs, events, checkpoints, lists)."""

from __future__ import annotations

from anchortune.app import jobs
from anchortune.app.jobs import states

openai_status = states.openai_status


def file_object(row: dict) -> dict:
    return {"id": row["id"], "object": "file", "bytes": row["bytes"], "created_at": row["created_at"],
            "filename": row["filename"], "purpose": row["purpose"], "status": row["status"],
            "status_details": None, "expires_at": None}


def job_object(job: dict) -> dict:
    options = job["options"] or {}
    hyper = jobs.hyperparameters(job)
    return {
        "id": job["id"], "object": "fine_tuning.job", "created_at": job["created_at"], "model": job["model"],
        "status": openai_status(job["status"]), "training_file": job["training_file"],
        "validation_file": job["validation_file"], "fine_tuned_model": job["fine_tuned_model"],
        "finished_at": job["finished_at"], "error": job["error"], "hyperparameters": hyper,
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
        "organization_id": "anchortune", "result_files": [], "seed": job["seed"],
        "trained_tokens": job["trained_tokens"], "estimated_finish": job["estimated_finish"],
        "integrations": [], "metadata": job["meta"], "suffix": job["suffix"], "task": job["task"],
        "options": options,
    }


def event_object(row: dict) -> dict:
    return {"id": f"ftevent-{row['id']}", "object": "fine_tuning.job.event", "created_at": int(row["created_at"]),
            "level": states.event_level(row["level"]), "message": row["message"], "data": row["data"] or {},
            "type": "metrics" if row["type"] == "metrics" else "message"}


def checkpoint_object(row: dict, job: dict) -> dict:
    prefix = job["fine_tuned_model"] or f"ft:{job['model']}::{job['id']}"
    return {"id": f"ftckpt-{row['id']}", "object": "fine_tuning.job.checkpoint", "created_at": row["created_at"],
            "fine_tuned_model_checkpoint": f"{prefix}:ckpt-step-{row['step']}", "fine_tuning_job_id": job["id"],
            "metrics": row["metrics"], "step_number": row["step"]}


def page(items: list[dict], after: str | None, limit: int) -> dict:
    """A cursor page: the items after the one with id `after`, at most `limit`."""
    if after:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    chosen = items[:limit]
    return {"object": "list", "data": chosen, "has_more": len(items) > limit,
            "first_id": chosen[0]["id"] if chosen else None, "last_id": chosen[-1]["id"] if chosen else None}
