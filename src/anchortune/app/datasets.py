"""Anchor-point files: read, describe, check (the check recipe, recipes/check.py: the quality gate, its reports and
cleaned sets), and a studio's uploads with their cached, possibly background, quality reports."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from anchortune import scratch
from anchortune.data.loading import CsvColumns, load_anchor_points
from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.errors import ConfigError, ConflictError, DataError, TooLargeError
from anchortune.jobs import states
from anchortune.jobs.checks import DONE, CheckStatus
from anchortune.jobs.store import new_id
from anchortune.app.workspace import found
from anchortune.recipes.check import (MAX_ROWS, check_data, check_file, check_pair_data,  # noqa: F401
                                      check_pairs_file, write_quality_outputs)
from anchortune.run_folder import RunFolder, changelog_of

UPLOAD_SUFFIXES = (".jsonl", ".csv")
DEMO_SETS = ("support", "invoice")


def read_anchor_points(path: str | Path, columns: CsvColumns | None = None) -> list[AnchorPoint]:
    """Anchor points from a file, or DataError listing every problem with file, line and field."""
    return load_anchor_points(path, columns)


def describe_data(points: list[AnchorPoint]) -> dict:
    """Counts a person checks first: examples, turns, labels, and the lines whose answer is empty (well-formed, but
    nothing to learn from: the gate flags them, --fix sets them aside)."""
    labels = Counter(p.label for p in points if p.label is not None)
    return {"examples": len(points), "multi_turn": sum(1 for p in points if len(p.messages) > 3),
            "labels": dict(labels.most_common()),
            "empty_answers": [p.line for p in points if not p.answer.strip()]}


def write_demo_data(kind: str, out: str | Path, n: int | None = None) -> Path:
    """Write one of the project's own demo sets (support conversations or synthetic invoices) as JSONL."""
    from anchortune.data.demo_invoices import invoice_demo
    from anchortune.data.demo_support import support_demo
    from anchortune.data.loading import save_anchor_points

    if kind not in DEMO_SETS:
        raise ConfigError(f"unknown demo set '{kind}'; choose one of {', '.join(DEMO_SETS)}")
    if n is not None and n < 1:
        raise ConfigError(f"--n must be a whole number >= 1, not {n}")
    points = (support_demo(n) if n else support_demo()) if kind == "support" else invoice_demo(n or 200)
    return save_anchor_points(points, out)


# a studio's uploads ---------------------------------------------------------------------------------------------
def upload(ws, filename: str, chunks: Iterable[bytes], purpose: str = "fine-tune") -> dict:
    """Store an uploaded dataset under a safe name, check every line, register it; nothing kept on error."""
    display = _display_name(filename)
    suffix = Path(display).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ConfigError(f"'{display}': expected a .jsonl or .csv file of anchor points")
    if purpose not in ("fine-tune", "evals"):
        raise ConfigError(f"purpose '{purpose}' is not supported; use 'fine-tune'")
    file_id = new_id("file")
    stored = ws.data / "files" / f"{file_id}{suffix}"
    partial = stored.with_name(f".{file_id}.part{suffix}")  # read by its own suffix: a .csv is parsed as CSV
    digest, size = hashlib.sha256(), 0
    try:
        with scratch.pending(partial), partial.open("wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > ws.config.max_upload_bytes:
                    raise TooLargeError(f"'{display}' is larger than the upload limit of "
                                        f"{ws.config.max_upload_bytes // (1024 * 1024)} MiB")
                digest.update(chunk)
                handle.write(chunk)
        try:
            points = read_pairs(partial) if is_pair_file(partial) else load_anchor_points(partial)
        except DataError as exc:  # the problems name the user's file, not the server's paths
            raise DataError([dataclasses.replace(p, file=display) for p in exc.problems], exc.total,
                            exc.subject) from None
        partial.replace(stored)
    finally:
        partial.unlink(missing_ok=True)
    return ws.store.add_file(id=file_id, filename=display, stored_name=stored.name, bytes=size,
                             purpose=purpose, status="processed", examples=len(points), sha256=digest.hexdigest())


def is_pair_file(path: str | Path) -> bool:
    """Whether a file holds preference pairs (data/pairs.py reads them), not anchor points."""
    from anchortune.data.pairs import looks_like_pairs

    return looks_like_pairs(path)


def read_pairs(path: str | Path) -> list:
    from anchortune.data.pairs import load_pairs

    return load_pairs(path)


def _rows_of(path: Path) -> list[AnchorPoint]:
    """A file's rows as anchor points: each pair's chosen side for a file of preference pairs."""
    return [p.side("chosen") for p in read_pairs(path)] if is_pair_file(path) else load_anchor_points(path)


def pairs_of(ws, file_id: str, limit: int = 200) -> list[dict] | None:
    """The preference pairs of an uploaded file to review (line, prompt, chosen, rejected), or None for anchor
    points."""
    path = file_path(ws, file_id)
    if not is_pair_file(path):
        return None
    return [{"line": p.line, "prompt": p.question, "chosen": p.chosen_text, "rejected": p.rejected_text}
            for p in read_pairs(path)[:limit]]


def file(ws, file_id: str) -> dict:
    return found(ws.store.file(file_id), f"no file '{file_id}'")


def files(ws, purpose: str | None = None) -> list[dict]:
    """The uploaded files, newest first (of one purpose, when given)."""
    return ws.store.files(purpose)


def file_path(ws, file_id: str) -> Path:
    return ws.data / "files" / file(ws, file_id)["stored_name"]


def delete_file(ws, file_id: str) -> dict:
    row = file(ws, file_id)
    active = [j["id"] for j in ws.store.jobs(statuses=(states.VALIDATING, states.QUEUED, states.RUNNING))
              if file_id in (j["training_file"], j["validation_file"])]
    if active:
        raise ConflictError(f"file '{file_id}' is read by job {active[0]}, which has not finished")
    ws.store.delete_file(file_id)
    (ws.data / "files" / row["stored_name"]).unlink(missing_ok=True)
    changelog_of(ws.data / "files" / row["stored_name"]).unlink(missing_ok=True)
    return row


def quality(ws, file_id: str, task: str = "custom", model: str | None = None) -> tuple[dict, list]:
    """The quality report for an uploaded file (cached per file, task and model) and its anchor points,
    computed now when not cached."""
    load_preset(task)  # an unknown task is a ConfigError before any work
    points = _rows_of(file_path(ws, file_id))
    cached = cached_quality(ws, file_id, task, model)
    if cached is not None:
        return cached, points
    _check(ws, file_id, task, model or _default_model(ws), points)
    return cached_quality(ws, file_id, task, model), points


def cached_quality(ws, file_id: str, task: str = "custom", model: str | None = None) -> dict | None:
    cache = _quality_cache(ws, file_id, task, model)
    return json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else None


def remember_quality(ws, file_id: str, task: str, model: str | None, report: dict) -> None:
    """Keep a report a job's validation made of an uploaded file, as the dataset page would have (the new-job form
    then knows the verdict before the next start)."""
    cache = _quality_cache(ws, file_id, task, model)
    RunFolder(cache.parent).write_json(cache, report)


def quality_in_background(ws, file_id: str, task: str = "custom", model: str | None = None) -> dict:
    """Start (once) the quality check of an uploaded file on the studio's check thread; its progress:
    state queued|running|done|failed, stage, fraction, error. Done at once when the report is cached."""
    from anchortune.app.models import model_spec

    load_preset(task)
    file(ws, file_id)
    model_id = model or _default_model(ws)
    model_spec(ws, model_id)
    key = _quality_cache(ws, file_id, task, model_id).name
    if cached_quality(ws, file_id, task, model_id) is not None:
        ws.checks.forget(key)
        return CheckStatus(state=DONE, stage="done", fraction=1.0).to_json()
    status = ws.checks.status(key)
    if status is None or status.state == DONE:  # done but the cache is gone (the file was checked anew)
        status = ws.checks.submit(key, lambda progress: _check(ws, file_id, task, model_id, None, progress))
    return status.to_json()


def fix(ws, file_id: str, task: str = "custom", model: str | None = None) -> dict:
    """Apply the report's fix (drop defective rows, keep one of each duplicate) as a new uploaded file, its changelog
    kept beside it (a run on it records the changelog in its lineage)."""
    from anchortune.app.models import model_spec

    row = file(ws, file_id)
    path = file_path(ws, file_id)
    points = load_anchor_points(path)
    report = check_data(path, task, model_spec(ws, model or _default_model(ws)), points=points)
    work = ws.data / "reports" / f"fix-{file_id}"
    fixed = work / (Path(row["filename"]).stem + ".fixed.jsonl")
    try:
        write_quality_outputs(report, points, row["filename"], fix_out=fixed)
        made = upload(ws, fixed.name, _chunks(fixed))
        changelog_of(fixed).replace(changelog_of(file_path(ws, made["id"])))  # kept: a run records where it came from
        return made
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check(ws, file_id: str, task: str, model_id: str, points: list | None, progress=None) -> None:
    from anchortune.app.models import model_spec

    path = file_path(ws, file_id)
    if progress is not None:
        progress("reading the anchor points", 0.0)
    if is_pair_file(path):  # preference pairs: their own gate (quality/pairs.py)
        report = check_pair_data(path, task, model_spec(ws, model_id), progress=progress)
    else:
        points = points if points is not None else load_anchor_points(path)
        report = check_data(path, task, model_spec(ws, model_id), points=points, progress=progress)
    cache = _quality_cache(ws, file_id, task, model_id)
    RunFolder(cache.parent).write_json(cache, report.to_json())


def _quality_cache(ws, file_id: str, task: str, model: str | None) -> Path:
    return ws.data / "reports" / f"{file_id}.{task}.{_short_hash(model or _default_model(ws))}.json"


def _default_model(ws) -> str:
    from anchortune.app.models import default_model

    return default_model(ws)


def _display_name(filename: str) -> str:
    """The user's file name without folders or odd characters (only ever shown, never used as a path)."""
    name = Path(str(filename).replace("\\", "/")).name
    name = re.sub(r"[^\w.\- ]", "_", name).strip(" .")[:120]
    return name or "upload.jsonl"


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
