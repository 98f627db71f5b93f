"""Fine-tuning jobs of a studio: create (every option validated at once), look up, cancel, their run folders and
downloads, and the work a worker does for one: validate (read, resolve the model, the quality gate, its report
stored) and train (handed that stored report: one gate per job; resumed from the last checkpoint after a worker
died)."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

from anchortune.config import RunConfig
from anchortune.data.presets import load_preset
from anchortune.errors import ConfigError, NotFoundError, QualityError
from anchortune.jobs import states
from anchortune.jobs.worker import JobContext, Worker
from anchortune.app.workspace import found
from anchortune.run_folder import RunFolder

OPTION_KEYS = tuple(k for k in RunConfig.model_fields if k not in ("data", "model", "valid_data", "seed"))
# kept in a job's options as the client sent them, and no run option: the gate's override, and OpenAI's learning-rate
# multiplier (the task preset's rate times it, made a rate when the job's run config is built)
WIRE_OPTIONS = ("force", "learning_rate_multiplier")


def create_job(ws, model: str, training_file: str, validation_file: str | None = None,
               hyperparameters: dict | None = None, suffix: str | None = None, seed: int | None = None,
               metadata: dict | None = None, options: dict | None = None) -> dict:
    """Queue a fine-tuning job (status validating); options are anchortune's run options by name."""
    from anchortune.app import datasets
    from anchortune.app.models import model_spec

    model_spec(ws, model)
    datasets.file(ws, training_file)
    if validation_file:
        datasets.file(ws, validation_file)
    options = {k: v for k, v in (options or {}).items() if v not in (None, "")}
    unknown = sorted(set(options) - set(OPTION_KEYS) - {"force"})
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}; allowed: {', '.join(OPTION_KEYS)}, force")
    task = options.pop("task", None) or "custom"
    load_preset(task)  # an unknown task is refused here, with its name, not later by the worker
    options.update(_hyperparameters(hyperparameters or {}))
    if suffix is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{0,40}", suffix):
        raise ConfigError("suffix: up to 40 letters, digits, '-', '_' or '.'")
    fields = dict(model=model, task=task, training_file=training_file, validation_file=validation_file,
                  options=options, suffix=suffix, seed=42 if seed is None else int(seed))
    run_config(ws, fields)  # every option is validated now, not later in the worker
    job = ws.store.create_job(meta=metadata, **fields)
    ws.store.add_event(job["id"], "info", f"job created for model {model}")
    return job


def job(ws, job_id: str) -> dict:
    return found(ws.store.job(job_id), f"no fine-tuning job '{job_id}'")


def jobs(ws, limit: int | None = None) -> list[dict]:
    """The jobs, newest first."""
    return ws.store.jobs(limit=limit)


def events(ws, job_id: str, after: int = 0, limit: int | None = None, newest_first: bool = False) -> list[dict]:
    """A job's events after the id `after`."""
    job(ws, job_id)
    return ws.store.events(job_id, after=after, limit=limit, newest_first=newest_first)


def checkpoints(ws, job_id: str) -> list[dict]:
    job(ws, job_id)
    return ws.store.checkpoints(job_id)


def cancel_job(ws, job_id: str) -> dict:
    job(ws, job_id)
    row = ws.store.request_cancel(job_id)
    if row["status"] == states.CANCELLED:
        ws.store.add_event(job_id, "info", "job cancelled")
    return row


def run_folder(ws, job_id: str) -> Path:
    return ws.data / "runs" / job_id


def summary(ws, job_id: str) -> dict | None:
    path = RunFolder(run_folder(ws, job_id)).summary
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def download(ws, job_id: str, part: str) -> Path:
    """A zip of a succeeded job's adapter, merged model, or an export (served: the merged folder for
    transformers and vLLM; gguf: q8_0 with its parity record; ollama: the GGUF and its Modelfile), made once."""
    from anchortune.recipes import export as exports

    parts = ("adapter", "model") + tuple(f.download for f in exports.FORMATS)
    if part not in parts:
        raise NotFoundError(f"no download '{part}'; choose one of {', '.join(parts)}")
    run = run_folder(ws, job(ws, job_id)["id"])
    fmt = next((f for f in exports.FORMATS if f.download == part), None)
    if fmt is not None:
        if not (run / "model").is_dir():
            raise NotFoundError(f"job {job_id} has no model to export (not finished)")
        source = run / "exports" / (fmt.name + (f"-{fmt.default_quant}" if fmt.default_quant else ""))
        if not (source / "export.json").is_file():
            export(ws, job_id, fmt.name)
    else:
        source = run / part
    if not source.is_dir():
        raise NotFoundError(f"job {job_id} has no {part} (not finished, or full fine-tuning has no adapter)")
    target = ws.data / "downloads" / f"{job_id}-{part}.zip"
    if not target.is_file():
        staging = ws.data / "downloads" / f".{job_id}-{part}"
        made = shutil.make_archive(str(staging), "zip", root_dir=source)
        Path(made).replace(target)
    return target


def export(ws, job_id: str, fmt: str, quant: str | None = None) -> dict:
    """Export a finished job's model into its run folder (recipes/export.py); the record."""
    from anchortune.recipes import export as exports

    run = run_folder(ws, job(ws, job_id)["id"])
    if not (run / "model").is_dir():
        raise NotFoundError(f"job {job_id} has no model to export (not finished)")
    return exports.export_run(run, fmt, quant)


def export_records(ws, job_id: str) -> list[dict]:
    """The exports made of a job's run, oldest first."""
    from anchortune.recipes import export as exports

    return exports.exports(run_folder(ws, job(ws, job_id)["id"]))


# work for the worker ---------------------------------------------------------------------------------------------
def worker(ws, name: str | None = None, dispatch=None) -> Worker:
    """A worker over the studio's store; with `dispatch` (app/ray_dispatch.py's RayDispatch) its trainings run
    on a cluster, validation here."""
    train = (lambda ctx: dispatch.train(ws, ctx)) if dispatch else (lambda ctx: train_job(ws, ctx))
    return Worker(ws.store, lambda ctx: validate_job(ws, ctx), train, ws.config.lease_s, name=name)


def validate_job(ws, ctx: JobContext) -> None:
    """Read the data, resolve the model, judge the anchor points and store the report; a poor verdict fails the
    job unless forced."""
    from anchortune.app import datasets
    from anchortune.app.models import prepare_model

    row = ctx.job
    cfg = run_config(ws, row)
    points = datasets.read_anchor_points(cfg.data)
    if cfg.valid_data:
        datasets.read_anchor_points(cfg.valid_data)
    prepare_model(cfg.model)
    report = datasets.check_data(cfg.data, cfg.task, cfg.model, points=points, max_length=cfg.max_length)
    RunFolder(ws.data / "reports").write_json(_stored_report(ws, row["id"]), report.to_json())
    ctx.report("warning" if report.verdict != "good" else "info", f"anchor point quality: {report.summary()}",
               data={"verdict": report.verdict, "scores": report.scores})
    if report.verdict == "poor" and not row["options"].get("force"):
        raise QualityError(report.reasons, report.advice)


def train_job(ws, ctx: JobContext) -> dict:
    """Train with the report validation stored (or resume from the last checkpoint after a worker died); the
    fields of the succeeded job."""
    from anchortune.app.recorder import JobRecorder
    from anchortune.recipes.task_run import train_run

    row = ctx.job
    folder = RunFolder(run_folder(ws, row["id"]))
    resume = prepare_folder(ws, ctx, folder, folder.last_checkpoint_step() if folder.is_run() else None)
    outcome = train_run(run_config(ws, row), folder.root, resume=resume,
                        on_event=JobRecorder(ctx, ws.store), force=True, quality=stored_quality(ws, row["id"]))
    return finished_fields(row, outcome.summary, folder.root)


def prepare_folder(ws, ctx: JobContext, folder: RunFolder, last: int | None) -> bool:
    """Ready a job's run folder for its (next) start: resume from the checkpoint at `last` (its later metrics
    dropped), or clear what a start that died before its first checkpoint left; True to resume."""
    if last is not None:
        ws.store.drop_metrics_after(ctx.job["id"], last)
        ctx.report("warning", f"resuming from the checkpoint at step {last} (the previous worker stopped)",
                   step=last)
        return True
    if folder.root.exists():
        shutil.rmtree(folder.root)  # a start that died before its first checkpoint
    return False


def stored_quality(ws, job_id: str) -> dict | None:
    """The quality report validation stored for a job (None: the run judges the data itself)."""
    stored = _stored_report(ws, job_id)
    return json.loads(stored.read_text(encoding="utf-8")) if stored.is_file() else None


def finished_fields(row: dict, summary: dict, run: Path) -> dict:
    """The fields of a succeeded job: its model's name, the tokens trained, where the run lies."""
    training = summary["training"]
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", row["model"])[:40]
    return {"fine_tuned_model": f"ft:{base}:{row['suffix'] or ''}:{row['id']}",
            "trained_tokens": int(training.get("tokens_trained") or 0), "run_dir": str(run)}


def task_defaults(task: str):
    """A task preset's default hyperparameters (what the new-job form shows)."""
    return load_preset(task).hyperparameters


def _stored_report(ws, job_id: str) -> Path:
    return ws.data / "reports" / f"{job_id}.quality.json"


def run_config(ws, row: dict) -> RunConfig:
    """A job's run config: its options, its files' paths, its model resolved."""
    from anchortune.app import datasets
    from anchortune.app.models import model_spec

    options = {k: v for k, v in row["options"].items() if k not in WIRE_OPTIONS}
    multiplier = row["options"].get("learning_rate_multiplier")
    if multiplier is not None:
        options["learning_rate"] = load_preset(row["task"]).hyperparameters.learning_rate * multiplier
    valid = str(datasets.file_path(ws, row["validation_file"])) if row["validation_file"] else None
    return RunConfig.build(data=str(datasets.file_path(ws, row["training_file"])), task=row["task"],
                           model=model_spec(ws, row["model"]), valid_data=valid, seed=row["seed"], **options)


def hyperparameters(row: dict) -> dict:
    """A job's hyperparameters in OpenAI's words, as its client sent them ("auto" where it left the preset's
    choice; a rate given as anchortune's absolute learning_rate shows as its multiple of the preset's)."""
    options = row["options"] or {}
    multiplier = options.get("learning_rate_multiplier", "auto")
    if multiplier == "auto" and "learning_rate" in options:
        multiplier = options["learning_rate"] / load_preset(row["task"]).hyperparameters.learning_rate
    return {"n_epochs": options.get("epochs", "auto"), "batch_size": options.get("batch_size", "auto"),
            "learning_rate_multiplier": multiplier}


def _hyperparameters(values: dict) -> dict:
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
            out["learning_rate_multiplier"] = _positive(key, value, limit=1000)
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
    kind = "a whole number" if whole else "a number"
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not 0 < number <= limit or (whole and number != int(number)):
        raise ConfigError(f"hyperparameters.{key}: expected {kind} above 0 and at most {limit:g}, got {value!r}")
    return number
