"""The web UI's pages: overview, upload and quality report, new fine-tune, live run and result, playground.

Pages are Jinja2 templates with autoescaping on, so every piece of dataset text is shown as text; the
scripts in static/ write text with textContent only. Live updates come as server-sent events.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates

from anchortune.api import i18n
from anchortune.api.openai_files import upload_chunks
from anchortune.app import datasets, jobs, models
from anchortune.app import plan as app_plan
from anchortune.app.jobs import states
from anchortune.config import TASKS

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
SHOWN_FINDINGS = 200
COOKIE = "anchortune_token"  # the login page sets it; api/app.py's token check reads it


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    lang = i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                       request.headers.get("accept-language"))
    t = i18n.catalog(lang)
    response = templates.TemplateResponse(request, name, {"t": t, "lang": lang, "tasks": TASKS, **context},
                                          status_code=status)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, lang, samesite="strict", max_age=365 * 86400)
    response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                                   "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
    return response


def error_page(request: Request, message: str, status: int) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message)


def _ws(request: Request):
    return request.app.state.workspace


@router.get("/")
def home(request: Request):
    ws = _ws(request)
    return render(request, "home.html", jobs=jobs.jobs(ws, limit=50), files=datasets.files(ws, "fine-tune"))


@router.get("/login")
def login_form(request: Request, next: str = "/"):
    return render(request, "login.html", next=next if next.startswith("/") and not next.startswith("//") else "/")


@router.post("/login")
def login(request: Request, token: str = Form(...), next: str = Form("/")):
    import secrets

    expected = _ws(request).config.token or ""
    if not secrets.compare_digest(token.encode(), expected.encode()):
        return render(request, "login.html", status=401, next=next, failed=True)
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=30 * 86400)
    return response


@router.post("/datasets")
def upload(request: Request, file: UploadFile = File(...), task: str = Form("custom")):
    row = datasets.upload(_ws(request), file.filename or "upload.jsonl", upload_chunks(file))
    return RedirectResponse(f"/datasets/{row['id']}?task={quote(task)}", status_code=303)


@router.get("/datasets/{file_id}")
def dataset(request: Request, file_id: str, task: str = "custom", model: str | None = None):
    ws = _ws(request)
    row = datasets.file(ws, file_id)
    if row["examples"] >= ws.config.background_rows and datasets.cached_quality(ws, file_id, task, model) is None:
        status = datasets.quality_in_background(ws, file_id, task, model)
        if status["state"] != "done":
            return render(request, "checking.html", file=row, check=status, task=task,
                          model=model or models.default_model(ws))
    report, points = datasets.quality(ws, file_id, task, model)
    by_line = {p.line: p for p in points}
    flagged: dict[int, list[dict]] = {}
    for finding in report["findings"]:
        if finding["severity"] != "info":
            flagged.setdefault(finding["line"], []).append(finding)
    rows = [{"line": line, "prompt": by_line[line].prompt if line in by_line else "",
             "answer": by_line[line].answer if line in by_line else "", "findings": found}
            for line, found in sorted(flagged.items())[:SHOWN_FINDINGS]]
    model = model or models.default_model(ws)
    plan, planning = app_plan.plan_state(ws, file_id, task, model)
    return render(request, "dataset.html", file=row, report=report, rows=rows, flagged_total=len(flagged),
                  task=task, model=model, models=models.served_models(ws), plan=plan, planning=planning)


@router.post("/datasets/{file_id}/plan")
def start_plan(request: Request, file_id: str, task: str = Form("custom"), model: str = Form("")):
    """Start the learning-curve plan of a file (app/plan.py) on the check thread; back to its page."""
    app_plan.plan_in_background(_ws(request), file_id, task, model or None)
    return RedirectResponse(f"/datasets/{file_id}?task={quote(task)}#plan", status_code=303)


@router.get("/datasets/{file_id}/plan/progress")
def plan_progress(request: Request, file_id: str, task: str = "custom", model: str | None = None):
    """How far the plan of a file has come (starting it when it is not running)."""
    return JSONResponse(app_plan.plan_in_background(_ws(request), file_id, task, model))


@router.get("/datasets/{file_id}/progress")
def check_progress(request: Request, file_id: str, task: str = "custom", model: str | None = None):
    """How far the background quality check of a file has come (starting it when it is not running)."""
    return JSONResponse(datasets.quality_in_background(_ws(request), file_id, task, model))


@router.post("/datasets/{file_id}/fix")
def fix(request: Request, file_id: str, task: str = Form("custom"), model: str = Form("")):
    row = datasets.fix(_ws(request), file_id, task, model or None)
    return RedirectResponse(f"/datasets/{row['id']}?task={quote(task)}", status_code=303)


@router.get("/new")
def new_job(request: Request, file: str | None = None, task: str = "custom"):
    ws = _ws(request)
    bases = [m for m in models.served_models(ws) if not m["id"].startswith("ft:")]
    presets = {name: jobs.task_defaults(name) for name in TASKS}
    return render(request, "new.html", files=datasets.files(ws, "fine-tune"), chosen_file=file, task=task,
                  bases=bases, default_model=models.default_model(ws), presets=presets)


@router.post("/jobs")
async def start_job(request: Request):
    form = await request.form()
    options = {k: _number(form.get(k)) for k in ("epochs", "learning_rate", "batch_size", "micro_batch_size",
                                                 "max_length", "lora_r", "replay", "max_steps", "eval_every")}
    options.update(task=form.get("task") or "custom", profile=form.get("profile") or "balanced",
                   engine=form.get("engine") or "auto")
    if form.get("force"):
        options["force"] = True
    job = await asyncio.to_thread(jobs.create_job, _ws(request), str(form.get("model") or ""),
                                  str(form.get("training_file") or ""), None, None, None, None, None, options)
    return RedirectResponse(f"/jobs/{job['id']}", status_code=303)


def _number(raw) -> float | int | None:
    from anchortune.errors import ConfigError

    if raw in (None, ""):
        return None
    try:
        value = float(str(raw).replace(",", "."))
    except ValueError:
        raise ConfigError(f"'{raw}' is not a number") from None
    return int(value) if value.is_integer() and "." not in str(raw) and "e" not in str(raw).lower() else value


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str):
    ws = _ws(request)
    job = jobs.job(ws, job_id)
    events = jobs.events(ws, job_id)
    return render(request, "job.html", job=job, summary=jobs.summary(ws, job_id) if job["status"] == states.SUCCEEDED
                  else None, final=job["status"] in states.FINAL,
                  boot={"job": job["id"], "status": job["status"], "after": events[-1]["id"] if events else 0,
                        "events": [_event_json(e) for e in events]})


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str):
    jobs.cancel_job(_ws(request), job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.get("/jobs/{job_id}/stream")
async def stream(request: Request, job_id: str, after: int = 0):
    """The job's events after `after` (or Last-Event-ID) as server-sent events, then its final status."""
    ws = _ws(request)
    jobs.job(ws, job_id)
    last = request.headers.get("last-event-id")
    cursor = int(last) if last and last.isdigit() else after

    async def events():
        nonlocal cursor
        status = None
        while not await request.is_disconnected():
            rows = await asyncio.to_thread(jobs.events, ws, job_id, cursor, 500)
            for row in rows:
                cursor = row["id"]
                yield f"id: {row['id']}\nevent: job\ndata: {json.dumps(_event_json(row))}\n\n"
            job = await asyncio.to_thread(jobs.job, ws, job_id)
            if job["status"] != status:
                status = job["status"]
                yield f"event: status\ndata: {json.dumps({'status': status})}\n\n"
            if status in states.FINAL and not rows:
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _event_json(row: dict) -> dict:
    return {"id": row["id"], "level": states.event_level(row["level"]), "type": row["type"], "message": row["message"],
            "step": row["step"], "data": row["data"] or {}, "at": row["created_at"]}


@router.get("/jobs/{job_id}/download/{part}")
def download(request: Request, job_id: str, part: str):
    path = jobs.download(_ws(request), job_id, part)
    return FileResponse(path, media_type="application/zip", filename=f"{job_id}-{part}.zip")


@router.get("/jobs/{job_id}/exports")
def export_list(request: Request, job_id: str):
    """The exports made of a job's model, each with its parity record."""
    return JSONResponse(jobs.export_records(_ws(request), job_id))


@router.post("/jobs/{job_id}/exports")
def export_model(request: Request, job_id: str, format: str = Form("gguf"), quant: str = Form("")):
    """Export a finished job's model (merged, gguf or ollama) into its run folder; the record, with the parity
    gate's verdict."""
    return JSONResponse(jobs.export(_ws(request), job_id, format, quant or None))


@router.get("/jobs/{job_id}/report")
def report(request: Request, job_id: str):
    """The run's own HTML report, sandboxed: no scripts, nothing loaded from elsewhere."""
    from anchortune.errors import NotFoundError

    ws = _ws(request)
    path = jobs.run_folder(ws, jobs.job(ws, job_id)["id"]) / "report.html"
    if not path.is_file():
        raise NotFoundError(f"job {job_id} has no report yet")
    return FileResponse(path, media_type="text/html", headers={
        "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"})


@router.get("/playground")
def playground(request: Request, model: str | None = None):
    ws = _ws(request)
    tuned = [m for m in models.served_models(ws) if m["id"].startswith("ft:")]
    chosen = next((m for m in tuned if m["id"] == model), tuned[0] if tuned else None)
    return render(request, "playground.html", tuned=tuned, chosen=chosen)
