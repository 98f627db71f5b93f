"""What a studio keeps on disk: a succeeded job's checkpoints pruned (kept: the chosen one and the last), the
download cache bounded (the zips used longest ago go first), sizes per job and for the whole data folder, and the
two settings that govern them, stored in the studio's database.

A 135M LoRA run keeps ~1.1 GB of which ~0.5 GB are checkpoints no one loads after success; each download zip is a
second copy of a model. Settings: `keep_checkpoints` is 'chosen_and_last' (the default) or 'all';
`download_cache_mb` bounds the zips (default DOWNLOAD_CACHE_MB; 0 keeps only the newest)."""

from __future__ import annotations

import shutil
from pathlib import Path

from anchortune.errors import ConfigError
from anchortune.messages import say
from anchortune.run_folder import RunFolder

KEEP = ("chosen_and_last", "all")
DOWNLOAD_CACHE_MB = 2048
DEFAULTS = {"keep_checkpoints": "chosen_and_last", "download_cache_mb": DOWNLOAD_CACHE_MB}


def settings(ws) -> dict:
    """The studio's retention settings (defaults where none was saved)."""
    stored = ws.store.settings()
    return {key: stored.get(key, value) for key, value in DEFAULTS.items()}


def save_settings(ws, keep_checkpoints: str, download_cache_mb) -> dict:
    """Check and store both settings; the download cache is trimmed to its new bound at once."""
    if keep_checkpoints not in KEEP:
        raise ConfigError(f"keep_checkpoints: expected one of {', '.join(KEEP)}", param="keep_checkpoints")
    try:
        limit = int(str(download_cache_mb).strip())
    except ValueError:
        limit = -1
    if not 0 <= limit <= 10_000_000:
        raise ConfigError(f"download_cache_mb: expected a whole number of MB from 0, got {download_cache_mb!r}",
                          param="download_cache_mb")
    ws.store.put_settings({"keep_checkpoints": keep_checkpoints, "download_cache_mb": limit})
    bound_downloads(ws)
    return settings(ws)


def folder_bytes(path: Path) -> int:
    """Bytes of the files under `path` (0 when it is gone)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def kept_steps(summary: dict, steps: list[int]) -> set[int]:
    """The checkpoints a succeeded run keeps: the chosen one and the last."""
    training = summary.get("training") or {}
    return {s for s in (training.get("best_step"), max(steps, default=None)) if s is not None}


def prune_checkpoints(run: Path, keep: set[int]) -> tuple[list[int], int]:
    """Remove the run's checkpoints not in `keep`; (the steps removed, the bytes freed)."""
    folder = RunFolder(run).checkpoints
    removed, freed = [], 0
    for path in sorted(folder.glob("checkpoint-*")) if folder.is_dir() else []:
        step = path.name.removeprefix("checkpoint-")
        if path.is_dir() and step.isdigit() and int(step) not in keep:
            freed += folder_bytes(path)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(int(step))
    return sorted(removed), freed


def after_success(ws, ctx, summary: dict) -> None:
    """Apply the retention setting to a job that just trained: prune, forget the removed checkpoints, say so."""
    if settings(ws)["keep_checkpoints"] == "all":
        return
    run = ws.data / "runs" / ctx.job["id"]
    steps = [c["step"] for c in ws.store.checkpoints(ctx.job["id"])]
    keep = kept_steps(summary, steps)
    removed, freed = prune_checkpoints(run, keep)
    if removed:
        ws.store.drop_checkpoints(ctx.job["id"], removed)
        ctx.report("info", say("log_pruned", kept=", ".join(map(str, sorted(keep))), removed=len(removed),
                               size=human_bytes(freed)))


def job_sizes(ws, job_id: str) -> dict:
    """Bytes a job keeps: checkpoints, adapter, merged model, exports, the rest of its run folder, its zips."""
    run = ws.data / "runs" / job_id
    parts = {name: folder_bytes(run / name) for name in ("checkpoints", "adapter", "model", "exports")}
    parts["other"] = max(0, folder_bytes(run) - sum(parts.values()))
    parts["downloads"] = sum(p.stat().st_size for p in (ws.data / "downloads").glob(f"{job_id}-*.zip"))
    parts["total"] = sum(parts.values())
    return parts


def studio_sizes(ws) -> dict:
    """Bytes of the data folder's parts: uploads, runs, stored reports, the download cache, and all of it."""
    parts = {name: folder_bytes(ws.data / name) for name in ("files", "runs", "reports", "downloads")}
    parts["total"] = sum(parts.values())
    return parts


def recorded_bytes(ws) -> int:
    """The studio's size as recorded, cheap enough for every overview: the runs' sizes kept in the store when
    their jobs finished, and the download cache (one folder, no walk)."""
    downloads = sum(p.stat().st_size for p in (ws.data / "downloads").glob("*.zip") if p.is_file())
    return ws.store.disk_bytes() + downloads


def bound_downloads(ws, keep: Path | None = None) -> list[str]:
    """Delete the zips used longest ago until the cache fits its bound (`keep`, the zip just built, stays);
    the names removed."""
    limit = settings(ws)["download_cache_mb"] * 1024 * 1024
    zips = sorted((p for p in (ws.data / "downloads").glob("*.zip") if p.is_file()),
                  key=lambda p: max(p.stat().st_atime, p.stat().st_mtime))
    total = sum(p.stat().st_size for p in zips)
    removed = []
    for path in zips:
        if total <= limit:
            break
        if keep is not None and path == keep:
            continue
        total -= path.stat().st_size
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def forget_downloads(ws, job_id: str) -> None:
    """Delete a job's built zips (the job is being deleted)."""
    for path in (ws.data / "downloads").glob(f"{job_id}-*.zip"):
        path.unlink(missing_ok=True)


def human_bytes(n: int) -> str:
    """'512 B', '3.4 MB', '1.1 GB' (powers of 1000, as file managers show sizes)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
