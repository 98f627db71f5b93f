"""Runs a team can compare and trace, for the command line and the studio: runs side by side (by folder, or by
job), a finished job's lineage, and the runs trained on a dataset (by content: every upload of the same bytes).

Results name runs by job and files by the names they were uploaded under, never by server paths. The studio's
tracking settings (the backend a new job is tracked in) are app/tracking.py's: a job reads them when it is created,
so they sit below the jobs this module reads.
"""

from __future__ import annotations

from pathlib import Path

from anchortune import tracking
from anchortune.app import datasets, jobs
from anchortune.tracking import compare


def compare_runs(runs: list[str | Path]) -> dict:
    """`anchortune compare RUN RUN...`: finished run folders side by side (tracking/compare.py)."""
    return compare.compare(runs)


def compare_jobs(ws, job_ids: list[str]) -> dict:
    """Finished jobs side by side, each named by its suffix (or id), its training file by the name it was
    uploaded under."""
    rows = [jobs.job(ws, job_id) for job_id in dict.fromkeys(job_ids)]
    result = compare.compare([jobs.run_folder(ws, row["id"]) for row in rows],
                             names=[row["suffix"] or row["id"] for row in rows])
    for run, row in zip(result["runs"], rows):
        upload = ws.store.file(row["training_file"])
        run.update(job=row["id"], fine_tuned_model=row["fine_tuned_model"],
                   uploaded_as=upload["filename"] if upload else None)
    result["same_file"] = len({r["uploaded_as"] for r in result["runs"]}) == 1
    return result


def curves(result: dict, lang: str = "en") -> str:
    """The compared runs' validation-loss curves in one inline SVG (evaluate/report.py's plot)."""
    from anchortune.evaluate.report import line_plot
    from anchortune.messages import template

    series = {run["name"]: [tuple(p) for p in run["curves"]["valid"]] for run in result["runs"]}
    return line_plot(template("report_compare_plot", lang), series, template("report_loss_axis", lang), lang)


def job_lineage(ws, job: dict, summary: dict | None) -> dict | None:
    """A finished job's lineage for its page: the data it learned from (as uploaded: its name and file id), the
    gate's verdict, the --fix changelog, where the run is tracked."""
    if not summary or not summary.get("lineage"):
        return None
    upload = ws.store.file(job["training_file"])
    return {**summary["lineage"], "uploaded_as": upload["filename"] if upload else None,
            "file_id": job["training_file"], "tracking": tracking.where(jobs.run_folder(ws, job["id"]))}


def runs_on_file(ws, file_id: str) -> list[dict]:
    """The jobs trained on this dataset's bytes (this upload or another of the same SHA-256), newest first, with
    each finished run's data hash, task metric and verdict."""
    row = datasets.file(ws, file_id)
    same = [f["id"] for f in ws.store.files() if f["sha256"] == row["sha256"]]
    out = []
    for job in ws.store.jobs_trained_on(same):
        summary = jobs.summary(ws, job["id"]) or {}
        data = ((summary.get("lineage") or {}).get("data") or {})
        answers = summary.get("answers") or {}
        verdict = summary.get("verdict") or (summary.get("balance") or {}).get("diagnosis") or {}
        out.append({"id": job["id"], "status": job["status"], "suffix": job["suffix"], "task": job["task"],
                    "created_at": job["created_at"], "fine_tuned_model": job["fine_tuned_model"],
                    "same_upload": job["training_file"] == file_id, "sha256": data.get("sha256"),
                    "metric": answers.get("metric"), "tuned": answers.get("tuned"), "verdict": verdict.get("verdict")})
    return out
