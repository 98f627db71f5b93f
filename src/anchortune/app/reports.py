"""A finished job's full report, rendered in the language a page asks for from the run's summary and curves
(evaluate/report.py): the report.html the run wrote stays its English copy."""

from __future__ import annotations

from anchortune.errors import NotFoundError
from anchortune.run_folder import RunFolder


def run_report(ws, job_id: str, lang: str = "en") -> str:
    from anchortune.app import jobs
    from anchortune.evaluate.report import render_html

    folder = RunFolder(jobs.run_folder(ws, jobs.job(ws, job_id)["id"]))
    summary = jobs.summary(ws, job_id)
    if summary is None:
        raise NotFoundError(f"job {job_id} has no report yet")
    return render_html(summary, folder.read_metrics(), lang)
