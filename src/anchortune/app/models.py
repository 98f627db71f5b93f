"""Models: the built-in catalog with install and preparation state, preparing one, and the model ids a studio
serves (catalog, configured folders, tuned models of succeeded jobs, their listed checkpoints) with what each id
loads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from anchortune.errors import NotFoundError
from anchortune.messages import say
from anchortune.jobs import states
from anchortune.models.catalog import CATALOG, DEFAULT_MODEL


@dataclass(frozen=True)
class ModelRow:
    name: str
    title: str
    parameters: str
    licence: str
    package: str
    installed: bool
    prepared: bool
    default: bool


def list_models() -> list[ModelRow]:
    """The built-in catalog with install and preparation state."""
    return [ModelRow(e.name, e.title, e.parameters, e.licence, e.package, e.is_installed(), e.is_prepared(),
                     e.name == DEFAULT_MODEL) for e in CATALOG.values()]


def prepare_model(spec: str | None = None) -> Path:
    """The local folder for a model (catalog name, folder, .gguf, run), preparing GGUF weights once."""
    from anchortune.models.loading import resolve_model

    return Path(resolve_model(spec))


def default_model(ws) -> str:
    return ws.config.default_model or next(iter(ws.config.models), DEFAULT_MODEL)


def served_models(ws) -> list[dict]:
    """Base models (catalog and configured) and the tuned models of succeeded jobs, OpenAI-shaped."""
    rows = [{"id": name, "object": "model", "created": 0, "owned_by": "anchortune"} for name in CATALOG]
    rows += [{"id": name, "object": "model", "created": 0, "owned_by": "local"} for name in ws.config.models]
    for job in ws.store.jobs(statuses=(states.SUCCEEDED,)):
        rows.append({"id": job["fine_tuned_model"], "object": "model", "created": job["finished_at"] or 0,
                     "owned_by": "anchortune", "parent": job["model"], "job": job["id"]})
    return rows


CHECKPOINT = re.compile(r"^(?P<prefix>ft:.*):(?P<job>ftjob-[0-9a-f]+):ckpt-step-(?P<step>\d+)$")


def served_model(ws, model_id: str) -> dict:
    """One model id the studio serves, OpenAI-shaped: a listed one, or a listed checkpoint of a job."""
    found = [m for m in served_models(ws) if m["id"] == model_id]
    if found:
        return found[0]
    checkpoint = CHECKPOINT.match(model_id)
    if checkpoint:
        model_spec(ws, model_id)  # NotFoundError when the job does not list it or its files are gone
        job = ws.store.job(checkpoint["job"])
        return {"id": model_id, "object": "model", "created": job["created_at"], "owned_by": "anchortune",
                "parent": job["model"], "job": job["id"]}
    raise NotFoundError(say("e_unknown_model", model=model_id))


def model_spec(ws, model_id: str) -> str:
    """What a model id loads: a configured folder, a tuned job's run folder, one of its checkpoints (the ids its
    checkpoint list names, ':ckpt-step-N' appended), or the catalog name."""
    if model_id in ws.config.models:
        return ws.config.models[model_id]
    checkpoint = CHECKPOINT.match(model_id)
    if checkpoint:
        return _checkpoint_spec(ws, model_id, checkpoint["job"], int(checkpoint["step"]))
    if model_id.startswith("ft:"):
        job = ws.store.job(model_id.rsplit(":", 1)[-1])
        if job is None or job["status"] != states.SUCCEEDED or job["fine_tuned_model"] != model_id:
            raise NotFoundError(f"no fine-tuned model '{model_id}'")
        return job["run_dir"]
    if model_id in CATALOG:
        return model_id
    raise NotFoundError(say("e_unknown_model", model=model_id))


def _checkpoint_spec(ws, model_id: str, job_id: str, step: int) -> str:
    """A job's checkpoint folder, when the job lists that checkpoint and its files are still there."""
    job = ws.store.job(job_id)
    listed = job is not None and any(c["step"] == step for c in ws.store.checkpoints(job_id))
    folder = ws.data / "runs" / job_id / "checkpoints" / f"checkpoint-{step}"
    if not listed or not folder.is_dir():
        raise NotFoundError(f"no checkpoint model '{model_id}' (removed after the job succeeded, or never saved)")
    return str(folder)
