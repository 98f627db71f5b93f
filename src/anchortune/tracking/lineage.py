"""Data lineage of a run: which anchor points it learned from, by content, so that a model can be traced to data.

The training file's SHA-256 (what `sha256sum` prints, what the run folder's seal and a studio upload record) and
rows, the validation file's where one was given, the quality gate's verdict and scores, and the `--fix` changelog the
training file came out of (copied into the run beside its data: run_folder.py). Reads a run folder; knows nothing of
training or of tracking backends.
"""

from __future__ import annotations

import json
from pathlib import Path

from anchortune.config import RunConfig
from anchortune.run_folder import SEAL, RunFolder, changelog_of, sha256


def describe(run: str | Path, rows: int | None = None, valid_rows: int | None = None) -> dict:
    """The lineage of the run in `run` as it lies now: data, validation, gate, fix (None where there is none)."""
    folder = RunFolder(run)
    cfg = RunConfig.load(folder.config)
    seal = _seal(folder)
    return {"data": _file(folder, cfg.data, seal, rows),
            "validation": _file(folder, cfg.valid_data, seal, valid_rows) if cfg.valid_data else None,
            "gate": _gate(folder), "fix": _fix(folder, cfg.data, seal)}


def of_run(run: str | Path) -> dict:
    """The lineage a finished run recorded in its summary (a run from before lineage: described now)."""
    summary = RunFolder(run).summary
    recorded = json.loads(summary.read_text(encoding="utf-8")).get("lineage") if summary.is_file() else None
    if recorded:
        return recorded
    rows = (json.loads(summary.read_text(encoding="utf-8")).get("data") or {}).get("examples") \
        if summary.is_file() else None
    return describe(run, rows)


def short(digest: str | None) -> str:
    """The first 12 hex digits of a SHA-256 (how a table names a data version), '–' for none."""
    return digest[:12] if digest else "–"


def _seal(folder: RunFolder) -> dict:
    path = folder.root / SEAL
    try:
        sealed = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, ValueError):
        sealed = {}
    return sealed if isinstance(sealed, dict) else {}


def _file(folder: RunFolder, name: str, seal: dict, rows: int | None) -> dict:
    """A data file of the run: its name, its SHA-256 as sealed when the run copied it (or as it is now), its rows."""
    path = Path(name) if Path(name).is_absolute() else folder.root / name
    digest = seal.get(name) or (sha256(path) if path.is_file() else None)
    return {"file": Path(name).name, "sha256": digest, "rows": rows}


def _gate(folder: RunFolder) -> dict | None:
    """The quality gate's verdict and scores on the run's anchor points (quality.json), None when not judged."""
    path = folder.root / "quality.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    return {"verdict": report.get("verdict"), "scores": report.get("scores") or {}}


def _fix(folder: RunFolder, data: str, seal: dict) -> dict | None:
    """The --fix changelog the training file came out of: its name in the run, SHA-256 and what it moved."""
    name = changelog_of(Path(data))
    path = name if name.is_absolute() else folder.root / name
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {"changelog": name.as_posix() if not name.is_absolute() else name.name,
            "sha256": seal.get(name.as_posix()) or sha256(path),
            "dropped": sum(r.get("action") == "dropped" for r in rows),
            "set_aside": sum(r.get("action") == "set aside for review" for r in rows)}
