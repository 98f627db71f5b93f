"""Data plans of a studio's uploaded files: the plan recipe (recipes/plan.py) run on the studio's check thread,
one per file, task and model, cached under the data folder's reports/."""

from __future__ import annotations

from pathlib import Path

from anchortune.data.presets import load_preset
from anchortune.recipes.plan import plan_data  # noqa: F401  (the shells' entry to a plan)


def cached_plan(ws, file_id: str, task: str = "custom", model: str | None = None) -> dict | None:
    import json

    path = _plan_cache(ws, file_id, task, model)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def plan_state(ws, file_id: str, task: str, model: str) -> tuple[dict | None, dict | None]:
    """(the cached plan, or None; the progress of one being made, or None) without starting anything."""
    plan = cached_plan(ws, file_id, task, model)
    status = None if plan else ws.checks.status(_plan_cache(ws, file_id, task, model).name)
    return plan, status.to_json() if status else None


def plan_in_background(ws, file_id: str, task: str = "custom", model: str | None = None) -> dict:
    """Start (once) the plan of an uploaded file on the studio's check thread; its progress (state queued|running|
    done|failed, stage, fraction, error), done at once where the plan is cached."""
    from anchortune.app import datasets
    from anchortune.app.models import default_model, model_spec
    from anchortune.jobs.checks import DONE, CheckStatus
    from anchortune.run_folder import RunFolder

    load_preset(task)
    datasets.file(ws, file_id)
    model_id = model or default_model(ws)
    spec = model_spec(ws, model_id)
    cache = _plan_cache(ws, file_id, task, model_id)
    if cache.is_file():
        ws.checks.forget(cache.name)
        return CheckStatus(state=DONE, stage="done", fraction=1.0).to_json()
    status = ws.checks.status(cache.name)
    if status is None or status.state == DONE:
        def work(progress) -> None:
            steps = iter(range(1, 100))
            result = plan_data(datasets.file_path(ws, file_id), task, spec,
                               on_event=lambda e: progress(e.data.get("message", ""), min(0.95, next(steps) / 9)))
            RunFolder(cache.parent).write_json(cache, result)

        status = ws.checks.submit(cache.name, work)
    return status.to_json()


def _plan_cache(ws, file_id: str, task: str, model: str | None) -> Path:
    import hashlib

    from anchortune.app.models import default_model

    digest = hashlib.sha256((model or default_model(ws)).encode()).hexdigest()[:12]
    return ws.data / "reports" / f"{file_id}.{task}.{digest}.plan.json"
