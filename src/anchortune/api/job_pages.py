"""A job's pages and actions in the web UI: the live run (stages, time left per stage and for the run, warnings,
curves, log, by server-sent events), the result (the verdict in the team's terms over the loss-based evidence,
every number explained, the data it learned from), downloads built in the background with progress, the full report
in the page's language, the poor-data path (reasons, report, Apply the fix, train anyway), cancel and delete with its
size on disk; and finished jobs compared side by side (/compare).
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse

from anchortune import messages
from anchortune.api.errors import wants_html
from anchortune.api.pages import language, render
from anchortune.app import compare, downloads, jobs, reports, retention
from anchortune.app.jobs import states

router = APIRouter(include_in_schema=False)
STAGES = ("base_eval", "training", "final_eval", "answers", "merging")


def _ws(request: Request):
    return request.app.state.workspace


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str):
    ws = _ws(request)
    job = jobs.job(ws, job_id)
    lang = language(request)
    events = jobs.events(ws, job_id)
    summary = jobs.summary(ws, job_id) if job["status"] == states.SUCCEEDED else None
    poor = jobs.stored_quality(ws, job_id) if (job["error"] or {}).get("code") == "poor_data" else None
    return render(request, "job.html", job=job, summary=summary, final=job["status"] in states.FINAL, poor=poor,
                  lineage=compare.job_lineage(ws, job, summary),
                  downloads=downloads.statuses(ws, job_id) if summary else [],
                  sizes=retention.job_sizes(ws, job_id) if job["status"] in states.FINAL else None,
                  boot={"job": job["id"], "status": job["status"], "after": events[-1]["id"] if events else 0,
                        "events": [_event_json(e, lang) for e in events],
                        "stages": {s: messages.translate(messages.say(f"stage_{s}"), lang) for s in STAGES}})


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str):
    jobs.cancel_job(_ws(request), job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.post("/jobs/{job_id}/train-anyway")
def train_anyway(request: Request, job_id: str, confirm: str = Form("")):
    """A new job on the same data and settings, told to train despite the poor verdict: only with the box ticked."""
    from anchortune.errors import ConfigError

    if confirm != "yes":
        raise ConfigError(messages.say("e_confirm_anyway"), param="confirm")
    job = jobs.train_anyway(_ws(request), job_id)
    return RedirectResponse(f"/jobs/{job['id']}", status_code=303)


@router.post("/jobs/{job_id}/delete")
def delete(request: Request, job_id: str, confirm: str = Form("")):
    """Delete a finished job with its files (the box ticked)."""
    from anchortune.errors import ConfigError

    if confirm != "yes":
        raise ConfigError(messages.say("e_confirm_delete"), param="confirm")
    jobs.delete_job(_ws(request), job_id)
    return RedirectResponse("/", status_code=303)


@router.get("/jobs/{job_id}/stream")
async def stream(request: Request, job_id: str, after: int = 0):
    """The job's events after `after` (or Last-Event-ID) as server-sent events, then its final status."""
    ws = _ws(request)
    lang = language(request)
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
                yield f"id: {row['id']}\nevent: job\ndata: {json.dumps(_event_json(row, lang))}\n\n"
            job = await asyncio.to_thread(jobs.job, ws, job_id)
            if job["status"] != status:
                status = job["status"]
                yield f"event: status\ndata: {json.dumps({'status': status})}\n\n"
            if status in states.FINAL and not rows:
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _event_json(row: dict, lang: str = "en") -> dict:
    return {"id": row["id"], "level": states.event_level(row["level"]), "type": row["type"],
            "message": messages.translate(row["message"], lang), "step": row["step"], "data": row["data"] or {},
            "at": row["created_at"]}


@router.get("/jobs/{job_id}/downloads")
def download_states(request: Request, job_id: str):
    """Where each download of a finished job stands (the page polls this while one is built)."""
    lang = language(request)
    return JSONResponse([_translated(d, lang) for d in downloads.statuses(_ws(request), job_id)])


@router.post("/jobs/{job_id}/downloads/{part}")
def build_download(request: Request, job_id: str, part: str):
    """Start building a download in the background; at once its status (a form post: back to the job page)."""
    found = downloads.start(_ws(request), job_id, part)
    if wants_html(request):
        return RedirectResponse(f"/jobs/{job_id}#downloads", status_code=303)
    return JSONResponse(_translated(found, language(request)), status_code=202)


@router.get("/jobs/{job_id}/download/{part}")
def download(request: Request, job_id: str, part: str):
    """The zip when it is built; otherwise its build starts and the answer says how far it is (202), or a browser
    goes back to the job page, which shows the progress."""
    ws = _ws(request)
    ready = downloads.ready_file(ws, job_id, part)
    if ready is not None:
        return FileResponse(ready, media_type="application/zip", filename=f"{job_id}-{part}.zip")
    found = downloads.start(ws, job_id, part)
    if wants_html(request):
        return RedirectResponse(f"/jobs/{job_id}#downloads", status_code=303)
    return JSONResponse(_translated(found, language(request)), status_code=202)


def _translated(status: dict, lang: str) -> dict:
    parity = status["parity"]
    return {**status, "stage": messages.translate(status["stage"], lang),
            "error": messages.translate(status["error"], lang),
            "parity": {**parity, "reason": messages.translate(parity["reason"], lang)}}


@router.get("/jobs/{job_id}/exports")
def export_list(request: Request, job_id: str):
    """The exports made of a job's model, each with its parity record (no server paths)."""
    return JSONResponse(downloads.records(_ws(request), job_id))


@router.post("/jobs/{job_id}/exports")
def export_model(request: Request, job_id: str, format: str = Form("gguf"), quant: str = Form("")):
    """Export a finished job's model (merged, gguf or ollama) in the background: 202 with the build's status; the
    record, with the parity gate's verdict, is in GET /jobs/{id}/exports once it is done."""
    return JSONResponse(downloads.export(_ws(request), job_id, format, quant or None), status_code=202)


@router.get("/jobs/{job_id}/exports/status")
def export_state(request: Request, job_id: str, format: str = "gguf", quant: str = ""):
    return JSONResponse(downloads.export_status(_ws(request), job_id, format, quant or None))


@router.get("/jobs/{job_id}/report")
def report(request: Request, job_id: str):
    """The run's full report in the page's language, sandboxed: no scripts, nothing loaded from elsewhere."""
    html = reports.run_report(_ws(request), job_id, language(request))
    return HTMLResponse(html, headers={
        "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"})


@router.get("/compare")
def compare_page(request: Request, job: list[str] = Query(default=[])):
    """Finished jobs side by side (data version, settings, curves, task metric, general ability, verdict): a page
    for a browser, the comparison as JSON for any other client."""
    ws = _ws(request)
    result = compare.compare_jobs(ws, job)
    if not wants_html(request):
        return JSONResponse(result)
    return render(request, "compare.html", result=result, plot=compare.curves(result, language(request)))
