"""The web UI's pages: overview (paging, filters, search), upload and quality report (with the runs trained on the
data), new fine-tune, playground, settings, sign-in and the error page; a job's own pages, and jobs compared side by
side, are job_pages.py.

Pages are Jinja2 templates with autoescaping on, so every piece of dataset text is shown as text; the
scripts in static/ write text with textContent only. Every page renders in the request's language: the labels
from locales/, every generated sentence (verdicts, reasons, advice, log lines, errors) through the generated-
message catalogue (anchortune.messages: `tr`), numbers the language's way (`num`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from anchortune import messages
from anchortune.api import i18n
from anchortune.api.openai_files import upload_chunks
from anchortune.app import compare, datasets, feedback, jobs, models, retention, tracking
from anchortune.app import plan as app_plan
from anchortune.config import OBJECTIVES, TASKS, TRACKERS

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
SHOWN_FINDINGS = 200
METHODS = OBJECTIVES  # the new-job form's methods (OpenAI's types, and the reference-free one)
COOKIE = "anchortune_token"  # the login page sets it; api/app.py's token check reads it


def language(request: Request) -> str:
    return i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                       request.headers.get("accept-language"))


def helpers(lang: str) -> dict:
    """What templates write generated text and numbers with, in `lang`."""
    return {"tr": lambda text: messages.translate(str(text), lang) if text is not None else "",
            "num": lambda value, digits=2, percent=False, sign=False: messages.format_number(
                value, lang, digits, percent, sign),
            "size": lambda n: messages.localise_numbers(retention.human_bytes(int(n or 0)), lang),
            "plain": lambda value: messages.localise_numbers(str(value), lang) if value is not None else "–",
            "when": lambda at: time.strftime("%Y-%m-%d %H:%M", time.localtime(int(at or 0)))}


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    lang = language(request)
    t = i18n.catalog(lang)
    response = templates.TemplateResponse(request, name, {"t": t, "lang": lang, "tasks": TASKS, **helpers(lang),
                                                          "query": _lang_free(request), **context},
                                          status_code=status)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, lang, samesite="strict", max_age=365 * 86400)
    response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                                   "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
    return response


def _lang_free(request: Request) -> str:
    """The page's query without ?lang=, for the language links (a filtered overview stays filtered)."""
    from urllib.parse import urlencode

    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return urlencode(kept) + "&" if kept else ""


def error_page(request: Request, message: str, status: int) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message)


def _ws(request: Request):
    return request.app.state.workspace


@router.get("/")
def home(request: Request, status: str | None = None, task: str | None = None, model: str | None = None,
         q: str | None = None, page: str = "1"):
    """The overview: a page of the jobs (filters, search, paging; the active ones always), the anchor points."""
    ws = _ws(request)
    found = jobs.overview(ws, status, task, model, q, int(page) if page.isdigit() else 1)
    return render(request, "home.html", overview=found, files=datasets.files(ws, "fine-tune"),
                  studio={"total": retention.recorded_bytes(ws)})


@router.get("/login")
def login_form(request: Request, next: str = "/"):
    return render(request, "login.html", next=next if next.startswith("/") and not next.startswith("//") else "/")


@router.post("/login")
def login(request: Request, token: str = Form(...), next: str = Form("/")):
    import secrets

    expected = _ws(request).config.token or ""
    if not secrets.compare_digest(token.encode(), expected.encode()):
        return render(request, "login.html", status=401, next=next if next.startswith("/") else "/", failed=True)
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
                  task=task, model=model, models=models.served_models(ws), plan=plan, planning=planning,
                  codes={f["code"] for f in report["findings"]}, pairs=datasets.pairs_of(ws, file_id),
                  trained=compare.runs_on_file(ws, file_id))


@router.post("/datasets/{file_id}/plan")
def start_plan(request: Request, file_id: str, task: str = Form("custom"), model: str = Form("")):
    """Start the learning-curve plan of a file (app/plan.py) on the check thread; back to its page."""
    app_plan.plan_in_background(_ws(request), file_id, task, model or None)
    return RedirectResponse(f"/datasets/{file_id}?task={quote(task)}#plan", status_code=303)


@router.get("/datasets/{file_id}/plan/progress")
def plan_progress(request: Request, file_id: str, task: str = "custom", model: str | None = None):
    """How far the plan of a file has come (starting it when it is not running)."""
    return JSONResponse(_said(app_plan.plan_in_background(_ws(request), file_id, task, model), language(request)))


@router.get("/datasets/{file_id}/progress")
def check_progress(request: Request, file_id: str, task: str = "custom", model: str | None = None):
    """How far the background quality check of a file has come (starting it when it is not running)."""
    return JSONResponse(_said(datasets.quality_in_background(_ws(request), file_id, task, model), language(request)))


def _said(status: dict, lang: str) -> dict:
    """A background task's status with its stage and error in the page's language."""
    return {**status, "stage": messages.translate(status.get("stage") or "", lang),
            "error": messages.translate(status.get("error") or "", lang)}


@router.post("/datasets/{file_id}/fix")
def fix(request: Request, file_id: str, task: str = Form("custom"), model: str = Form("")):
    row = datasets.fix(_ws(request), file_id, task, model or None)
    return RedirectResponse(f"/datasets/{row['id']}?task={quote(task)}", status_code=303)


@router.get("/new")
def new_job(request: Request, file: str | None = None, task: str = "custom", method: str | None = None):
    """The new fine-tune form; where the chosen data's report is already known and poor, its reasons, the report,
    Apply the fix, and an explicit 'train anyway'."""
    ws = _ws(request)
    bases = [m for m in models.served_models(ws) if not m["id"].startswith("ft:")]
    presets = {name: jobs.task_defaults(name) for name in TASKS}
    files = datasets.files(ws, "fine-tune")
    chosen = file if any(f["id"] == file for f in files) else None
    known = datasets.cached_quality(ws, chosen, task if task in TASKS else "custom") if chosen else None
    if method not in METHODS:  # a file of preference pairs is trained by preference, anchor points by demonstration
        method = "dpo" if chosen and datasets.pairs_of(ws, chosen, limit=0) is not None else "supervised"
    return render(request, "new.html", files=files, chosen_file=chosen, task=task, bases=bases, method=method,
                  methods=METHODS,
                  default_model=models.default_model(ws), presets=presets,
                  poor=known if known and known["verdict"] == "poor" else None)


@router.post("/jobs")
async def start_job(request: Request):
    form = await request.form()
    options = {k: _number(form.get(k)) for k in ("epochs", "learning_rate", "batch_size", "micro_batch_size",
                                                 "max_length", "lora_r", "replay", "max_steps", "eval_every", "beta")}
    if form.get("method") in METHODS[1:]:  # dpo, orpo or reinforcement: the form's method (supervised: the default)
        options["objective"] = form.get("method")
    options.update(task=form.get("task") or "custom", profile=form.get("profile") or "balanced",
                   engine=form.get("engine") or "auto", track=form.get("track") or None,
                   language=language(request))  # the run's report and model card in the page's language
    if form.get("force"):  # the form's explicit "train anyway" on a poor verdict
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
        raise ConfigError(messages.say("e_not_a_number", text=raw)) from None
    return int(value) if value.is_integer() and "." not in str(raw) and "e" not in str(raw).lower() else value


@router.get("/playground")
def playground(request: Request, model: str | None = None):
    ws = _ws(request)
    tuned = [m for m in models.served_models(ws) if m["id"].startswith("ft:")]
    chosen = next((m for m in tuned if m["id"] == model), tuned[0] if tuned else None)
    return render(request, "playground.html", tuned=tuned, chosen=chosen, collected=feedback.count(ws))


@router.post("/playground/feedback")
async def playground_feedback(request: Request):
    """A judgement of a playground answer (JSON: prompt, answer, other, rating up|down, edited): a preference pair
    in the studio's feedback collection; how many it holds."""
    body = await request.json()
    found = feedback.record(_ws(request), **{k: body.get(k) for k in ("prompt", "answer", "other", "rating", "edited")})
    return JSONResponse({"pairs": found["pairs"], "pair": found["pair"]})


@router.post("/playground/feedback/dataset")
def feedback_dataset(request: Request):
    """The feedback collection as an uploaded dataset of pairs: its page, to review, check and train on."""
    row = feedback.snapshot(_ws(request))
    return RedirectResponse(f"/datasets/{row['id']}", status_code=303)


@router.get("/settings")
def settings_page(request: Request, saved: str = ""):
    """What the studio keeps on disk (retention of checkpoints, the download cache's bound, the sizes) and where new
    jobs are tracked (app/tracking.py)."""
    ws = _ws(request)
    return render(request, "settings.html", settings=retention.settings(ws), studio=retention.studio_sizes(ws),
                  keep=retention.KEEP, saved=bool(saved), tracking=tracking.settings(ws),
                  backends=TRACKERS)


@router.post("/settings")
def save_settings(request: Request, keep_checkpoints: str = Form(...), download_cache_mb: str = Form(...),
                  track: str = Form("none"), tracking_uri: str = Form("")):
    tracking.save_settings(_ws(request), track, tracking_uri)
    retention.save_settings(_ws(request), keep_checkpoints, download_cache_mb)
    return RedirectResponse("/settings?saved=1", status_code=303)
