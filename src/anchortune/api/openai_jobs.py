"""/v1/fine_tuning/jobs: create, list, retrieve, cancel, events and checkpoints, as OpenAI's API has them.

anchortune's own run options (task, profile, replay, max_steps, ...) ride along as `task` and
`options` in the body (the openai client's `extra_body`). `method` is OpenAI's: {"type": "supervised" | "dpo",
"dpo": {"hyperparameters": {"beta", "n_epochs", ...}}} or {"type": "reinforcement", "reinforcement": {"grader": {...},
"hyperparameters": {...}}}; a DPO job's file must hold preference pairs (a 400 naming line and field where it does
not), a reinforcement job's anchor points whose answers are the grader's references.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from anchortune.api.shapes import checkpoint_object, event_object, job_object, page
from anchortune.app import jobs
from anchortune.config import OBJECTIVES

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine-tuning"])
METHODS = OBJECTIVES  # OpenAI's method types (orpo: anchortune's reference-free preference variant)


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str
    training_file: str
    validation_file: str | None = None
    hyperparameters: dict | None = None
    method: dict | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: dict | None = None
    task: str | None = None
    options: dict | None = None


@router.post("")
def create_job(request: Request, body: JobRequest) -> dict:
    hyper = dict(body.hyperparameters or {})
    options = dict(body.options or {})
    method = body.method or {}
    kind = method.get("type", "supervised")
    if kind not in METHODS:
        from anchortune.errors import ConfigError
        from anchortune.messages import say

        raise ConfigError(say("e_method", method=str(kind)[:40]), param="method.type")
    hyper.update(((method.get(kind) or {}).get("hyperparameters")) or {})
    if kind != "supervised":
        options["objective"] = kind
    if kind == "reinforcement" and (method.get(kind) or {}).get("grader") is not None:
        options["grader"] = method[kind]["grader"]
    if body.task:
        options["task"] = body.task
    job = jobs.create_job(request.app.state.workspace, body.model, body.training_file, body.validation_file, hyper,
                          body.suffix, body.seed, body.metadata, options)
    return job_object(job)


@router.get("")
def list_jobs(request: Request, after: str | None = None, limit: int = Query(20, ge=1, le=100)) -> dict:
    rows = [job_object(j) for j in jobs.jobs(request.app.state.workspace, limit=limit + 1, after=after)]
    return page(rows, None, limit)


@router.get("/{job_id}")
def retrieve_job(request: Request, job_id: str) -> dict:
    return job_object(jobs.job(request.app.state.workspace, job_id))


@router.post("/{job_id}/cancel")
def cancel_job(request: Request, job_id: str) -> dict:
    return job_object(jobs.cancel_job(request.app.state.workspace, job_id))


@router.get("/{job_id}/events")
def list_events(request: Request, job_id: str, after: str | None = None,
                limit: int = Query(20, ge=1, le=1000)) -> dict:
    cursor = int(after.removeprefix("ftevent-")) if after and after.removeprefix("ftevent-").isdigit() else None
    rows = jobs.events(request.app.state.workspace, job_id, after=cursor, limit=limit + 1, newest_first=True,
                       skip_types=("progress",))
    return page([event_object(r) for r in rows], None, limit)


@router.get("/{job_id}/checkpoints")
def list_checkpoints(request: Request, job_id: str, after: str | None = None,
                     limit: int = Query(10, ge=1, le=1000)) -> dict:
    ws = request.app.state.workspace
    job = jobs.job(ws, job_id)
    return page([checkpoint_object(r, job) for r in jobs.checkpoints(ws, job_id)], after, limit)
