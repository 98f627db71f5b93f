"""The studio's application layer: uploads, jobs, models and chat for the API, the web UI and workers.

It stands beside `service` (whose functions it calls to judge, train and answer) and owns what a
shared server adds: the store, the data folder, model ids, loaded chat models. Routes stay thin over
these methods; workers get `validate_job` and `train_job` from here. A run's events become job events in
jobs/recorder.py; loaded chat models are pooled in models/chat_pool.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from anchortune import service, settings
from anchortune.config import RunConfig
from anchortune.data.presets import load_preset
from anchortune.errors import ConfigError, ConflictError, DataError, NotFoundError, QualityError, TooLargeError
from anchortune.export.run_folder import RunFolder
from anchortune.jobs import states
from anchortune.jobs.checks import DONE, BackgroundChecks, CheckStatus
from anchortune.jobs.store import Store, new_id
from anchortune.jobs.recorder import JobRecorder
from anchortune.jobs.worker import JobContext, Worker
from anchortune.models.catalog import CATALOG, DEFAULT_MODEL
from anchortune.models.chat_pool import ChatPool, check_messages

UPLOAD_SUFFIXES = (".jsonl", ".csv")
OPTION_KEYS = tuple(k for k in RunConfig.model_fields if k not in ("data", "model", "valid_data", "seed"))


@dataclass
class StudioConfig:
    """How one studio is set up; `models` maps extra model ids to local folders or files."""

    data_dir: Path
    database_url: str | None = None
    token: str | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    models: dict[str, str] = field(default_factory=dict)
    default_model: str | None = None
    lease_s: float = 60.0
    # Host names requests may carry besides the loopback names (the bound address, a proxy's name; "*": any)
    allowed_hosts: tuple[str, ...] = ()
    # files with at least this many rows are checked on the check thread, the page showing its progress
    background_rows: int = 10_000

    @classmethod
    def from_env(cls, **overrides) -> "StudioConfig":
        values = {"data_dir": settings.studio_dir(), "database_url": settings.database_url(),
                  "token": settings.api_token(), "lease_s": settings.lease_seconds()}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class Studio:
    """One studio: a store, a data folder (files/, runs/, reports/, downloads/) and a pool of chat models."""

    def __init__(self, config: StudioConfig):
        self.config = config
        self.data = Path(config.data_dir)
        for sub in ("files", "runs", "reports", "downloads"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)
        self._clear_stale_uploads()
        self.store = Store(config.database_url) if config.database_url else Store.sqlite(self.data / "anchortune.db")
        self.chats = ChatPool()
        self.checks = BackgroundChecks()

    def _clear_stale_uploads(self, older_than_s: float = 3600.0) -> None:
        """Remove what uploads killed while being written or checked left behind (a process that shares this
        folder may be writing one now: only parts untouched for an hour go)."""
        now = time.time()
        for stale in (self.data / "files").glob(".*.part*"):
            with contextlib.suppress(OSError):
                if now - stale.stat().st_mtime > older_than_s:
                    stale.unlink()

    # files -------------------------------------------------------------------------------------------
    def upload(self, filename: str, chunks: Iterable[bytes], purpose: str = "fine-tune") -> dict:
        """Store an uploaded dataset under a safe name, check every line, register it; nothing kept on error."""
        from anchortune.data.loading import load_anchor_points

        display = _display_name(filename)
        suffix = Path(display).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise ConfigError(f"'{display}': expected a .jsonl or .csv file of anchor points")
        if purpose not in ("fine-tune", "evals"):
            raise ConfigError(f"purpose '{purpose}' is not supported; use 'fine-tune'")
        file_id = new_id("file")
        stored = self.data / "files" / f"{file_id}{suffix}"
        partial = stored.with_name(f".{file_id}.part{suffix}")  # read by its own suffix: a .csv is parsed as CSV
        digest, size = hashlib.sha256(), 0
        try:
            with partial.open("wb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.config.max_upload_bytes:
                        raise TooLargeError(f"'{display}' is larger than the upload limit of "
                                            f"{self.config.max_upload_bytes // (1024 * 1024)} MiB")
                    digest.update(chunk)
                    handle.write(chunk)
            try:
                points = load_anchor_points(partial)
            except DataError as exc:  # the problems name the user's file, not the server's paths
                raise DataError([dataclasses.replace(p, file=display) for p in exc.problems]) from None
            partial.replace(stored)
        finally:
            partial.unlink(missing_ok=True)
        return self.store.add_file(id=file_id, filename=display, stored_name=stored.name, bytes=size,
                                   purpose=purpose, status="processed", examples=len(points),
                                   sha256=digest.hexdigest())

    def file(self, file_id: str) -> dict:
        row = self.store.file(file_id)
        if row is None:
            raise NotFoundError(f"no file '{file_id}'")
        return row

    def file_path(self, file_id: str) -> Path:
        return self.data / "files" / self.file(file_id)["stored_name"]

    def delete_file(self, file_id: str) -> dict:
        row = self.file(file_id)
        active = [j["id"] for j in self.store.jobs(statuses=(states.VALIDATING, states.QUEUED, states.RUNNING))
                  if file_id in (j["training_file"], j["validation_file"])]
        if active:
            raise ConflictError(f"file '{file_id}' is read by job {active[0]}, which has not finished")
        self.store.delete_file(file_id)
        (self.data / "files" / row["stored_name"]).unlink(missing_ok=True)
        return row

    def quality(self, file_id: str, task: str = "custom", model: str | None = None) -> tuple[dict, list]:
        """The quality report for an uploaded file (cached per file, task and model) and its anchor points,
        computed now when not cached."""
        from anchortune.data.loading import load_anchor_points

        load_preset(task)  # an unknown task is a ConfigError before any work
        points = load_anchor_points(self.file_path(file_id))
        cached = self.cached_quality(file_id, task, model)
        if cached is not None:
            return cached, points
        self._check(file_id, task, model or self.default_model(), points)
        return self.cached_quality(file_id, task, model), points

    def cached_quality(self, file_id: str, task: str = "custom", model: str | None = None) -> dict | None:
        cache = self._quality_cache(file_id, task, model)
        return json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else None

    def quality_in_background(self, file_id: str, task: str = "custom", model: str | None = None) -> dict:
        """Start (once) the quality check of an uploaded file on the studio's check thread; its progress:
        state queued|running|done|failed, stage, fraction, error. Done at once when the report is cached."""
        load_preset(task)
        self.file(file_id)
        model_id = model or self.default_model()
        self.model_spec(model_id)
        key = self._quality_cache(file_id, task, model_id).name
        if self.cached_quality(file_id, task, model_id) is not None:
            self.checks.forget(key)
            return CheckStatus(state=DONE, stage="done", fraction=1.0).to_json()
        status = self.checks.status(key)
        if status is None or status.state == DONE:  # done but the cache is gone (the file was checked anew)
            status = self.checks.submit(key, lambda progress: self._check(file_id, task, model_id, None, progress))
        return status.to_json()

    def _check(self, file_id: str, task: str, model_id: str, points: list | None, progress=None) -> None:
        from anchortune.data.loading import load_anchor_points

        path = self.file_path(file_id)
        if progress is not None:
            progress("reading the anchor points", 0.0)
        points = points if points is not None else load_anchor_points(path)
        report = service.check_data(path, task, self.model_spec(model_id), points=points, progress=progress)
        cache = self._quality_cache(file_id, task, model_id)
        RunFolder(cache.parent).write_json(cache, report.to_json())

    def _quality_cache(self, file_id: str, task: str, model: str | None) -> Path:
        return self.data / "reports" / f"{file_id}.{task}.{_short_hash(model or self.default_model())}.json"

    def fix(self, file_id: str, task: str = "custom", model: str | None = None) -> dict:
        """Apply the report's fix (drop defective rows, keep one of each duplicate) as a new file."""
        from anchortune.data.loading import load_anchor_points

        row = self.file(file_id)
        path = self.file_path(file_id)
        points = load_anchor_points(path)
        report = service.check_data(path, task, self.model_spec(model or self.default_model()), points=points)
        work = self.data / "reports" / f"fix-{file_id}"
        fixed = work / (Path(row["filename"]).stem + ".fixed.jsonl")
        try:
            service.write_quality_outputs(report, points, row["filename"], fix_out=fixed)
            return self.upload(fixed.name, _chunks(fixed))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # models ------------------------------------------------------------------------------------------
    def default_model(self) -> str:
        return self.config.default_model or next(iter(self.config.models), DEFAULT_MODEL)

    def models(self) -> list[dict]:
        """Base models (catalog and configured) and the tuned models of succeeded jobs, OpenAI-shaped."""
        rows = [{"id": name, "object": "model", "created": 0, "owned_by": "anchortune"} for name in CATALOG]
        rows += [{"id": name, "object": "model", "created": 0, "owned_by": "local"} for name in self.config.models]
        for job in self.store.jobs(statuses=(states.SUCCEEDED,)):
            rows.append({"id": job["fine_tuned_model"], "object": "model", "created": job["finished_at"] or 0,
                         "owned_by": "anchortune", "parent": job["model"], "job": job["id"]})
        return rows

    def model_spec(self, model_id: str) -> str:
        """What `service` loads for a model id: a configured folder, a tuned job's run folder, or the id."""
        if model_id in self.config.models:
            return self.config.models[model_id]
        if model_id.startswith("ft:"):
            job = self.store.job(model_id.rsplit(":", 1)[-1])
            if job is None or job["status"] != states.SUCCEEDED or job["fine_tuned_model"] != model_id:
                raise NotFoundError(f"no fine-tuned model '{model_id}'")
            return job["run_dir"]
        if model_id in CATALOG:
            return model_id
        raise NotFoundError(f"unknown model '{model_id}'; GET /v1/models lists the ones this studio serves")

    def chat(self, model_id: str, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
             top_p: float = 1.0) -> Iterator[str]:
        """A reply to a conversation, streamed in pieces; the generator returns (prompt, completion) tokens."""
        check_messages(messages)
        spec = self.model_spec(model_id)
        self.chats.get(spec)  # load (or fail) before the first piece is promised
        return self.chats.stream(spec, messages, max_tokens, temperature, top_p)

    # jobs --------------------------------------------------------------------------------------------
    def create_job(self, model: str, training_file: str, validation_file: str | None = None,
                   hyperparameters: dict | None = None, suffix: str | None = None, seed: int | None = None,
                   metadata: dict | None = None, options: dict | None = None) -> dict:
        """Queue a fine-tuning job (status validating); options are anchortune's run options by name."""
        self.model_spec(model)
        self.file(training_file)
        if validation_file:
            self.file(validation_file)
        options = {k: v for k, v in (options or {}).items() if v not in (None, "")}
        unknown = sorted(set(options) - set(OPTION_KEYS) - {"force"})
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(unknown)}; allowed: {', '.join(OPTION_KEYS)}, force")
        task = options.pop("task", None) or "custom"
        load_preset(task)  # an unknown task is refused here, with its name, not later by the worker
        options.update(_hyperparameters(hyperparameters or {}, task))
        if suffix is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{0,40}", suffix):
            raise ConfigError("suffix: up to 40 letters, digits, '-', '_' or '.'")
        fields = dict(model=model, task=task, training_file=training_file, validation_file=validation_file,
                      options=options, suffix=suffix, seed=42 if seed is None else int(seed))
        self._config(fields)  # every option is validated now, not later in the worker
        job = self.store.create_job(meta=metadata, **fields)
        self.store.add_event(job["id"], "info", f"job created for model {model}")
        return job

    def job(self, job_id: str) -> dict:
        job = self.store.job(job_id)
        if job is None:
            raise NotFoundError(f"no fine-tuning job '{job_id}'")
        return job

    def cancel_job(self, job_id: str) -> dict:
        self.job(job_id)
        job = self.store.request_cancel(job_id)
        if job["status"] == states.CANCELLED:
            self.store.add_event(job_id, "info", "job cancelled")
        return job

    def run_folder(self, job_id: str) -> Path:
        return self.data / "runs" / job_id

    def summary(self, job_id: str) -> dict | None:
        path = RunFolder(self.run_folder(job_id)).summary
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def download(self, job_id: str, part: str) -> Path:
        """A zip of a succeeded job's adapter or merged model, made once."""
        if part not in ("adapter", "model"):
            raise NotFoundError(f"no download '{part}'; choose adapter or model")
        source = self.run_folder(self.job(job_id)["id"]) / part
        if not source.is_dir():
            raise NotFoundError(f"job {job_id} has no {part} (not finished, or full fine-tuning has no adapter)")
        target = self.data / "downloads" / f"{job_id}-{part}.zip"
        if not target.is_file():
            staging = self.data / "downloads" / f".{job_id}-{part}"
            made = shutil.make_archive(str(staging), "zip", root_dir=source)
            Path(made).replace(target)
        return target

    # work for the worker -----------------------------------------------------------------------------
    def worker(self, name: str | None = None) -> Worker:
        return Worker(self.store, self.validate_job, self.train_job, self.config.lease_s, name=name)

    def validate_job(self, ctx: JobContext) -> None:
        """Read the data, resolve the model, judge the anchor points; a poor verdict fails the job unless forced."""
        job = ctx.job
        cfg = self._config(job)
        points = service.read_anchor_points(cfg.data)
        if cfg.valid_data:
            service.read_anchor_points(cfg.valid_data)
        service.prepare_model(cfg.model)
        report = service.check_data(cfg.data, cfg.task, cfg.model, points=points, max_length=cfg.max_length)
        RunFolder(self.data / "reports").write_json(self.data / "reports" / f"{job['id']}.quality.json",
                                                    report.to_json())
        ctx.report("warning" if report.verdict != "good" else "info", f"anchor point quality: {report.summary()}",
                   data={"verdict": report.verdict, "scores": report.scores})
        if report.verdict == "poor" and not job["options"].get("force"):
            raise QualityError(report.reasons, report.advice)

    def train_job(self, ctx: JobContext) -> dict:
        """Train (or resume from the last checkpoint after a worker died); the fields of the succeeded job."""
        job = ctx.job
        folder = RunFolder(self.run_folder(job["id"]))
        last = folder.last_checkpoint_step() if folder.is_run() else None
        if last is not None:
            self.store.drop_metrics_after(job["id"], last)
            ctx.report("warning", f"resuming from the checkpoint at step {last} (the previous worker stopped)",
                       step=last)
        elif folder.root.exists():
            shutil.rmtree(folder.root)  # a start that died before its first checkpoint
        outcome = service.train_run(self._config(job), folder.root, resume=last is not None,
                                    on_event=JobRecorder(ctx, self.store), force=True)
        training = outcome.summary["training"]
        base = re.sub(r"[^A-Za-z0-9_.-]", "-", job["model"])[:40]
        return {"fine_tuned_model": f"ft:{base}:{job['suffix'] or ''}:{job['id']}",
                "trained_tokens": int(training.get("tokens_trained") or 0), "run_dir": str(folder.root)}

    def _config(self, job: dict) -> RunConfig:
        options = {k: v for k, v in job["options"].items() if k != "force"}
        valid = str(self.file_path(job["validation_file"])) if job["validation_file"] else None
        return RunConfig.build(data=str(self.file_path(job["training_file"])), task=job["task"],
                               model=self.model_spec(job["model"]), valid_data=valid, seed=job["seed"], **options)


def _hyperparameters(values: dict, task: str) -> dict:
    """OpenAI's hyperparameters as run options ("auto" leaves the preset's choice)."""
    out = {}
    for key, value in values.items():
        if value in (None, "auto"):
            continue
        if key == "n_epochs":
            out["epochs"] = _positive(key, value, limit=1000)
        elif key == "batch_size":
            out["batch_size"] = int(_positive(key, value, limit=4096, whole=True))
        elif key == "learning_rate_multiplier":
            out["learning_rate"] = load_preset(task).hyperparameters.learning_rate * _positive(key, value, limit=1000)
        elif key == "engine":
            if value not in ("auto", "fast", "standard"):
                raise ConfigError(f"hyperparameters.engine: expected auto, fast or standard, got {value!r}")
            out["engine"] = value
        else:
            raise ConfigError(f"hyperparameters.{key} is not supported; use n_epochs, batch_size, "
                              "learning_rate_multiplier or engine")
    return out


def _positive(key: str, value, limit: float, whole: bool = False) -> float:
    """A finite number in (0, limit] (a whole one with `whole`), or the ConfigError that names the field."""
    import math

    kind = "a whole number" if whole else "a number"
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not 0 < number <= limit or (whole and number != int(number)):
        raise ConfigError(f"hyperparameters.{key}: expected {kind} above 0 and at most {limit:g}, got {value!r}")
    return number


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
