"""A finished job's downloads and exports, built in the background with progress, never inside a request.

Parts (PARTS): adapter and model (zips of the run's folders) and one per export format, as export/formats.py
declares them (served: the merged folder for transformers and vLLM; gguf: q8_0 with the parity gate's record;
ollama: the GGUF and its Modelfile); each is written once into the
run's exports/ where it is an export, zipped into the data folder's downloads/ (bounded: app/retention.py) and
served from there. A build runs on the workspace's build thread (jobs/checks.py), one at a time; its status says
missing, queued, running (stage, fraction), ready (bytes) or failed (why), and the parity gate's verdict as it is:
passed, failed or unchecked with the reason, or none for safetensors folders, which are the model's own weights.
Records and statuses name files relative to the run, never a path of the server.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from anchortune.errors import ConfigError, NotFoundError, StateError
from anchortune.export import formats
from anchortune.jobs import checks
from anchortune.messages import say

EXPORTED = {f.download: f.name for f in formats.FORMATS}  # part -> export format
PARTS = ("adapter", "model") + tuple(EXPORTED)
CHECKED = tuple(f.download for f in formats.FORMATS if f.gguf)  # parts the parity gate checks
HIDDEN = ("run", "folder")  # a record's server paths


def _run(ws, job_id: str) -> Path:
    from anchortune.app import jobs

    run = jobs.run_folder(ws, jobs.job(ws, job_id)["id"])
    if not (run / "model").is_dir():
        raise StateError(say("e_no_model_yet", id=job_id))
    return run


def _part(part: str) -> str:
    if part not in PARTS:
        raise NotFoundError(f"no download '{part}'; choose one of {', '.join(PARTS)}")
    return part


def zip_path(ws, job_id: str, part: str) -> Path:
    return ws.data / "downloads" / f"{job_id}-{part}.zip"


def _export_folder(run: Path, fmt: str, quant: str | None = None) -> Path:
    quant = quant or formats.get(fmt).default_quant
    return run / "exports" / (fmt + (f"-{quant}" if quant else ""))


def _source(run: Path, part: str) -> Path:
    return _export_folder(run, EXPORTED[part]) if part in EXPORTED else run / part


def status(ws, job_id: str, part: str) -> dict:
    """Where a download stands: state, stage, fraction, bytes when ready, error when failed, parity."""
    _part(part)
    run = _run(ws, job_id)
    target = zip_path(ws, job_id, part)
    build = ws.builds.status(f"{job_id}:{part}")
    out = {"part": part, "state": "missing", "stage": "", "fraction": 0.0, "bytes": None, "error": "",
           "parity": _parity(run, part)}
    if part == "adapter" and not (run / "adapter").is_dir():
        return {**out, "state": "absent"}  # full fine-tuning has no adapter
    if build is not None and build.state in (checks.QUEUED, checks.RUNNING):
        return {**out, "state": build.state, "stage": build.stage, "fraction": build.fraction}
    if target.is_file():
        return {**out, "state": "ready", "fraction": 1.0, "bytes": target.stat().st_size}
    if build is not None and build.state == checks.FAILED:
        return {**out, "state": "failed", "error": _no_paths(ws, build.error)}
    return out


def statuses(ws, job_id: str) -> list[dict]:
    return [status(ws, job_id, part) for part in PARTS]


def start(ws, job_id: str, part: str) -> dict:
    """Build a download in the background (once; a failed one is tried again); its status now."""
    current = status(ws, job_id, part)
    if current["state"] in ("missing", "failed"):
        run = _run(ws, job_id)
        ws.builds.submit(f"{job_id}:{part}", lambda progress: _build(ws, run, job_id, part, progress))
        return status(ws, job_id, part)
    return current


def ready_file(ws, job_id: str, part: str) -> Path | None:
    """The zip to serve when it is ready (its use noted for the cache's order), else None."""
    target = zip_path(ws, job_id, _part(part))
    if status(ws, job_id, part)["state"] != "ready":
        return None
    target.touch()
    return target


def _build(ws, run: Path, job_id: str, part: str, progress) -> None:
    from anchortune.app import retention
    from anchortune.recipes import export as exports

    source = _source(run, part)
    if part in EXPORTED and not (source / "export.json").is_file():
        progress(say("x_build_stage_export", format=EXPORTED[part]), 0.05)
        exports.export_run(run, EXPORTED[part])
    if not source.is_dir():
        raise NotFoundError(f"job {job_id} has no {part}")
    target = zip_path(ws, job_id, part)
    staging = target.with_name(f".{target.name}.part")
    files = sorted(p for p in source.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files) or 1
    done, start = 0, 0.5 if part in EXPORTED else 0.0
    try:
        with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for path in files:
                archive.write(path, path.relative_to(source))
                done += path.stat().st_size
                progress(say("x_build_stage_zip"), start + (1 - start) * done / total)
        staging.replace(target)
    finally:
        staging.unlink(missing_ok=True)
    retention.bound_downloads(ws, keep=target)


def _parity(run: Path, part: str) -> dict:
    """The parity gate's verdict for a part as it stands: passed, failed, unchecked (why), not built yet, or none."""
    if part not in CHECKED:
        return {"status": "none", "reason": say("x_no_parity")}
    record = _export_folder(run, EXPORTED[part]) / "export.json"
    if not record.is_file():
        return {"status": "not_built", "reason": ""}
    found = json.loads(record.read_text(encoding="utf-8"))
    return {"status": found.get("status", "unchecked"), "reason": found.get("reason", "")}


def records(ws, job_id: str) -> list[dict]:
    """The exports made of a job's run, oldest first, without the server's paths (the folder relative to the run)."""
    from anchortune.app import jobs
    from anchortune.recipes import export as exports

    run = jobs.run_folder(ws, jobs.job(ws, job_id)["id"])
    out = []
    for record in exports.exports(run):
        folder = Path(record.get("folder", ""))
        clean = {k: v for k, v in record.items() if k not in HIDDEN}
        clean["folder"] = f"exports/{folder.name}" if folder.name else None
        out.append(clean)
    return out


def export(ws, job_id: str, fmt: str, quant: str | None = None) -> dict:
    """Export a finished job's model (merged, gguf, ollama) into its run folder in the background; the build's
    status (GET the exports for the record with the parity gate's verdict)."""
    from anchortune.recipes import export as exports

    if fmt not in formats.NAMES:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(formats.NAMES)}", param="format")
    run = _run(ws, job_id)
    key = f"{job_id}:export:{fmt}:{quant or ''}"
    ws.builds.submit(key, lambda progress: (progress(say("x_build_stage_export", format=fmt), 0.05),
                                            exports.export_run(run, fmt, quant)))
    return export_status(ws, job_id, fmt, quant)


def export_status(ws, job_id: str, fmt: str, quant: str | None = None) -> dict:
    build = ws.builds.status(f"{job_id}:export:{fmt}:{quant or ''}")
    state = build.state if build is not None else "missing"
    return {"format": fmt, "quant": quant, "state": state, "stage": build.stage if build else "",
            "error": _no_paths(ws, build.error) if build else ""}


def _no_paths(ws, text: str) -> str:
    """A message without the data folder's location on the server."""
    for root in {str(ws.data.resolve()), str(ws.data)}:
        text = text.replace(root + "/", "").replace(root, "")
    return text
