"""Anchor-point files: read, describe, check (the quality gate), write reports and cleaned sets, and a studio's
uploads with their cached, possibly background, quality reports.

A check reads its file line by line and keeps at most MAX_ROWS rows for the gate (a seeded uniform sample of a
larger file, said in the report): memory follows the rows kept, not the file. Every output is checked before the
work (never the input, never a folder) and written atomically.
"""

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
from anchortune.app.outputs import output_file, same_file
from anchortune.config import expected
from anchortune.data.loading import CsvColumns, load_anchor_points, sample_anchor_points
from anchortune.data.presets import Preset, load_preset
from anchortune.data.records import AnchorPoint
from anchortune.errors import ConfigError, ConflictError, DataError, TooLargeError
from anchortune.jobs import states
from anchortune.jobs.checks import DONE, CheckStatus
from anchortune.jobs.store import new_id
from anchortune.app.workspace import found
from anchortune.run_folder import RunFolder, changelog_of

MAX_ROWS = 200_000  # rows the gate judges (~3 GB, ~10 minutes on 2 cores: bench/results/quality_scale.md)
UPLOAD_SUFFIXES = (".jsonl", ".csv")
DEMO_SETS = ("support", "invoice")


def read_anchor_points(path: str | Path, columns: CsvColumns | None = None) -> list[AnchorPoint]:
    """Anchor points from a file, or DataError listing every problem with file, line and field."""
    return load_anchor_points(path, columns)


def describe_data(points: list[AnchorPoint]) -> dict:
    """Counts a person checks first: examples, turns, labels."""
    labels = Counter(p.label for p in points if p.label is not None)
    return {"examples": len(points), "multi_turn": sum(1 for p in points if len(p.messages) > 3),
            "labels": dict(labels.most_common())}


def check_file(path: str | Path, task: str = "custom", model: str | None = None, description: str | None = None,
               columns: CsvColumns | None = None, max_length: int | None = None, ifd: bool = False,
               json_out: Path | None = None, html_out: Path | None = None, fix_out: Path | None = None,
               max_rows: int = MAX_ROWS):
    """`anchortune check`: the outputs checked first (none of them the input or a folder, each writable), the file
    read line by line keeping at most `max_rows` rows, judged, the reports written; (report, written files)."""
    path = Path(path)
    _check_outputs(path, json_out, html_out, fix_out)
    if max_rows < 1:
        raise ConfigError(f"--max-rows must be a whole number >= 1, not {max_rows}")
    _max_length(max_length, load_preset(task))  # the options' mistakes before the file's minutes
    points, rows = sample_anchor_points(path, max_rows, columns)
    if fix_out is not None and rows > len(points):
        raise ConfigError(f"--fix writes a cleaned copy of every row, but the file holds {rows:,} rows and the check "
                          f"judges {len(points):,} (--max-rows): raise --max-rows, or check without --fix")
    report = check_data(path, task, model, description, columns, max_length, ifd, points=points, max_rows=max_rows)
    if rows > len(points):
        _note_sample(report, len(points), rows)
    return report, write_quality_outputs(report, points, path.name, json_out, html_out, fix_out)


def check_data(path: str | Path, task: str = "custom", model: str | None = None, description: str | None = None,
               columns: CsvColumns | None = None, max_length: int | None = None, ifd: bool = False,
               points: list[AnchorPoint] | None = None, progress=None, max_rows: int = MAX_ROWS):
    """The quality report for a file of anchor points (or for `points` already read from it), judged on at most
    `max_rows` rows (a seeded sample of more); `progress(stage, fraction)` hears how far it has come (gate.check)."""
    from anchortune.models.loading import load_tokenizer, resolve_model
    from anchortune.quality.embeddings import load_embedder, load_judge
    from anchortune.quality.gate import check

    preset = load_preset(task)
    max_length = _max_length(max_length, preset)
    declared = list(preset.output.labels)
    if points is None:
        points, rows = sample_anchor_points(path, max_rows, columns)
    else:
        points, rows = _sample(points, max_rows), len(points)
    preset = preset.resolved_for(points)
    source = resolve_model(model)
    tokenizer = load_tokenizer(source)
    scorer = _ifd_scorer(source, tokenizer, preset) if ifd else None
    judge = load_judge() if preset.output.format == "text" else None  # free-text answers compared by meaning
    report = check(points, preset, load_embedder(), tokenizer, max_length, description=description,
                   declared_labels=declared, ifd=scorer, judge=judge, progress=progress)
    if rows > len(points):
        _note_sample(report, len(points), rows)
    return report


def _max_length(value: int | None, preset: Preset) -> int:
    """The context a check counts tokens against: the option (within the run config's bounds) or the preset's."""
    if value is None:
        return preset.hyperparameters.max_length
    if not 16 <= value <= 1_048_576:
        raise ConfigError(f"--max-length must be {expected('max_length')}, not {value}")
    return value


def _sample(points: list[AnchorPoint], keep: int, seed: int = 0) -> list[AnchorPoint]:
    """At most `keep` of `points`, a seeded uniform sample in their order."""
    if len(points) <= keep:
        return points
    import random

    return [points[i] for i in sorted(random.Random(seed).sample(range(len(points)), keep))]


def _note_sample(report, judged: int, rows: int) -> None:
    """Say in the report that the gate judged a sample of the rows."""
    report.size.update(rows_in_file=rows, rows_judged=judged)
    report.reasons.append(f"judged a seeded sample of {judged:,} of the file's {rows:,} rows (--max-rows); every "
                          "row's format was checked")


def _fix_files(fix_out: Path) -> tuple[Path, Path]:
    """The review file and the changelog written beside a cleaned set."""
    return fix_out.with_name(fix_out.stem + ".review.jsonl"), changelog_of(fix_out)


def _check_outputs(source: Path, json_out: Path | None, html_out: Path | None, fix_out: Path | None) -> None:
    """Every file a check would write, before it reads anything: none is the input or a folder, each can be
    written, no two are the same file."""
    outputs = {"--json": json_out, "--html": html_out, "--fix": fix_out}
    if fix_out is not None:
        review, changelog = _fix_files(Path(fix_out))
        outputs.update({f"--fix (its review file {review.name})": review,
                        f"--fix (its changelog {changelog.name})": changelog})
    named = [(flag, Path(path)) for flag, path in outputs.items() if path is not None]
    for i, (flag, path) in enumerate(named):
        output_file(path, flag, inputs=[source])
        clash = next((other for other, earlier in named[:i] if same_file(path, earlier)), None)
        if clash:
            raise ConfigError(f"{clash} and {flag} name the same file '{path}'; name each output once")


def _ifd_scorer(source, tokenizer, preset: Preset):
    from anchortune.engine import precision
    from anchortune.models.loading import load_model
    from anchortune.quality.ifd import ifd_scores

    model = load_model(source)
    chosen = precision.choose("auto")
    return lambda points: ifd_scores(model, tokenizer, preset, points, chosen)


def write_quality_outputs(report, points: list[AnchorPoint], source: str, json_out: Path | None = None,
                          html_out: Path | None = None, fix_out: Path | None = None) -> dict[str, Path]:
    """Write the report as JSON and/or HTML and, with fix_out, the cleaned set, review file and changelog."""
    from anchortune.data.loading import save_anchor_points
    from anchortune.quality.fix import plan_fix
    from anchortune.quality.html import render

    written: dict[str, Path] = {}
    if json_out:
        RunFolder(json_out.parent).write_json(json_out, report.to_json())
        written["json"] = json_out
    if html_out:
        RunFolder(html_out.parent).write_text(html_out, render(report, points, source))
        written["html"] = html_out
    if fix_out:
        plan = plan_fix(points, report.findings)
        review, changelog = _fix_files(fix_out)
        save_anchor_points(plan.kept, fix_out)
        save_anchor_points(plan.review, review)
        RunFolder(fix_out.parent).write_text(changelog, "".join(json.dumps(c, ensure_ascii=False) + "\n"
                                                                for c in plan.changelog))
        written.update({"fixed": fix_out, "review": review, "changelog": changelog})
    return written


def write_demo_data(kind: str, out: str | Path, n: int | None = None) -> Path:
    """Write one of the project's own demo sets (support conversations or synthetic invoices) as JSONL."""
    from anchortune.data.demo_invoices import invoice_demo
    from anchortune.data.demo_support import support_demo
    from anchortune.data.loading import save_anchor_points

    if kind not in DEMO_SETS:
        raise ConfigError(f"unknown demo set '{kind}'; choose one of {', '.join(DEMO_SETS)}")
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
            raise DataError([dataclasses.replace(p, file=display) for p in exc.problems], exc.total) from None
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
        from anchortune.app.preference_run import check_pair_data

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
