"""Fine-tuning jobs of a studio: create (every option validated at once), look up and page through (filters and
search), cancel (a finished job refuses, as OpenAI's API does), train anyway after a poor verdict, delete with
their files, and the work a worker does for one: validate (read, resolve the model, the quality gate, its report
stored) and train (handed that stored report: one gate per job; resumed from the last checkpoint after a worker
died, or restarted, said as a warning, when it died before the first). Downloads and exports: app/downloads.py;
what is kept on disk: app/retention.py."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

from anchortune.config import PREFERENCE_OBJECTIVES, TRACKERS, RunConfig
from anchortune.data.presets import PRESET_NAMES, load_preset
from anchortune.errors import ConfigError, QualityError, StateError
from anchortune.jobs import states
from anchortune.jobs.worker import JobContext, Worker
from anchortune.app import tracking
from anchortune.app.workspace import found
from anchortune.messages import say
from anchortune.run_folder import RunFolder

# a job's run options; its tracking URI is the studio's (app/tracking.py), never a request's
OPTION_KEYS = tuple(k for k in RunConfig.model_fields
                    if k not in ("data", "model", "valid_data", "seed", "tracking_uri"))
# kept in a job's options as the client sent them, and no run option: the gate's override, and OpenAI's learning-rate
# multiplier (the task preset's rate times it, made a rate when the job's run config is built)
WIRE_OPTIONS = ("force", "learning_rate_multiplier")
REINFORCEMENT_DEFAULTS = {"num_generations": 4}  # a reinforcement job's samples per prompt at compute_multiplier 1


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
        raise ConfigError(say("x_jobs_unknown_options", names=", ".join(unknown), others=", ".join(OPTION_KEYS)))
    task = options.pop("task", None) or "custom"
    load_preset(task)  # an unknown task is refused here, with its name, not later by the worker
    options.update(_hyperparameters(hyperparameters or {}))
    if options.get("objective") == "reinforcement":
        check_grader(ws, options.get("grader") or load_preset(task).grader)
    options = tracking.job_options(ws, options)  # the studio's tracking backend where the job names none
    if suffix is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{0,40}", suffix):
        raise ConfigError("suffix: up to 40 letters, digits, '-', '_' or '.'")
    fields = dict(model=model, task=task, training_file=training_file, validation_file=validation_file,
                  options=options, suffix=suffix, seed=42 if seed is None else int(seed))
    cfg = run_config(ws, fields)  # every option is validated now (its backend installed), not later in the worker
    tracking.require(cfg)
    _check_shape(ws, cfg, training_file, validation_file)
    job = ws.store.create_job(meta=metadata, **fields)
    ws.store.add_event(job["id"], "info", say("log_created", model=model),
                       data={"method": method_of(fields)})
    return job


def method_of(row: dict) -> dict:
    """A job's method as OpenAI's API writes it: {"type": "supervised" | "dpo", "<type>": {"hyperparameters"}}
    (anchortune's reference-free variant as type "orpo"), its hyperparameters as the client sent them
    (`hyperparameters`)."""
    options = row["options"] or {}
    kind = options.get("objective", "supervised")
    hyper = hyperparameters(row)
    if kind != "supervised":
        hyper["beta"] = options.get("beta", "auto")
    if kind == "reinforcement":
        hyper.update(eval_interval=options.get("eval_every", "auto"),
                     compute_multiplier=options.get("compute_multiplier", "auto"))
        return {"type": kind, kind: {"grader": options.get("grader") or load_preset(row["task"]).grader,
                                     "hyperparameters": hyper}}
    return {"type": kind, kind: {"hyperparameters": hyper}}


def check_grader(ws, spec) -> None:
    """A reinforcement job's grader parses (evaluate/graders.py), a python one only where the operator enabled
    them; a ConfigError naming the field otherwise."""
    from anchortune.evaluate import graders

    graders.parse(spec, "method.reinforcement.grader", allow_python=ws.config.python_graders)


def _check_shape(ws, cfg: RunConfig, training_file: str, validation_file: str | None) -> None:
    """The files fit the method: preference pairs for dpo and orpo, anchor points for supervised; a DataError naming
    line and field (or a ConfigError naming the file) now, not in the worker."""
    from anchortune.app import datasets
    from anchortune.errors import DataError

    for param, file_id in (("training_file", training_file), ("validation_file", validation_file)):
        if not file_id:
            continue
        path, name = datasets.file_path(ws, file_id), datasets.file(ws, file_id)["filename"]
        pairs = datasets.is_pair_file(path)
        if cfg.objective not in PREFERENCE_OBJECTIVES and pairs:
            raise ConfigError(say("e_pairs_for_supervised", file=name), param=param)
        if cfg.objective in PREFERENCE_OBJECTIVES:
            try:
                datasets.read_pairs(path)
            except DataError as exc:
                problems = [dataclasses.replace(p, file=name) for p in exc.problems]
                error = DataError(problems, exc.total, exc.subject)
                error.param = param
                raise error from None


def job(ws, job_id: str) -> dict:
    return found(ws.store.job(job_id), say("e_no_job", id=job_id))


def jobs(ws, limit: int | None = None, after: str | None = None) -> list[dict]:
    """The jobs, newest first (at most `limit`, after the job `after`)."""
    return ws.store.jobs(limit=limit, after=after)


PAGE = 25  # jobs per overview page


def overview(ws, status: str | None = None, task: str | None = None, model: str | None = None,
             search: str | None = None, page: int = 1, per_page: int = PAGE) -> dict:
    """One page of the jobs, newest first, filtered by status, task and base model and searched (id, model, tuned
    model, suffix); the page count, every status's count, what the filters can choose, and the active jobs (not
    finished) whatever the page, so no job is ever out of reach."""
    chosen = {"status": status if status in states.NEXT else None, "task": task if task in PRESET_NAMES else None,
              "model": model or None, "q": (search or "").strip()[:100] or None}
    where = dict(statuses=(chosen["status"],) if chosen["status"] else (), task=chosen["task"], model=chosen["model"],
                 search=chosen["q"])
    total = ws.store.count_jobs(**where)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    active = ws.store.jobs(limit=20, statuses=(states.VALIDATING, states.QUEUED, states.RUNNING))
    return {"jobs": ws.store.jobs(limit=per_page, offset=(page - 1) * per_page, **where), "total": total,
            "page": page, "pages": pages, "per_page": per_page, "counts": ws.store.job_counts(),
            "facets": ws.store.job_facets(), "filters": chosen, "active": active}


def events(ws, job_id: str, after: int = 0, limit: int | None = None, newest_first: bool = False,
           skip_types: tuple[str, ...] = ()) -> list[dict]:
    """A job's events after the id `after` (without the types in `skip_types`)."""
    job(ws, job_id)
    return ws.store.events(job_id, after=after, limit=limit, newest_first=newest_first, skip_types=skip_types)


def checkpoints(ws, job_id: str) -> list[dict]:
    job(ws, job_id)
    return ws.store.checkpoints(job_id)


def cancel_job(ws, job_id: str) -> dict:
    """Cancel a job that has not finished (at once, or at its worker's next beat); a finished one refuses."""
    before = job(ws, job_id)
    if before["status"] in states.FINAL:
        raise StateError(say("e_job_finished", id=job_id, status=before["status"]))
    row = ws.store.request_cancel(job_id)
    if row["status"] in states.FINAL and row["status"] != states.CANCELLED:  # it finished meanwhile
        raise StateError(say("e_job_finished", id=job_id, status=row["status"]))
    if row["status"] == states.CANCELLED:
        ws.store.add_event(job_id, "info", say("log_cancelled"))
    return row


def train_anyway(ws, job_id: str) -> dict:
    """A new job like one that stopped on a poor quality verdict, told to train anyway (the person confirmed it)."""
    row = job(ws, job_id)
    if row["status"] != states.FAILED or (row["error"] or {}).get("code") != QualityError.code:
        raise StateError(f"job {job_id} did not stop on the quality verdict; nothing to train anyway")
    options = {**row["options"], "force": True, "task": row["task"]}
    return create_job(ws, row["model"], row["training_file"], row["validation_file"], None, row["suffix"],
                      row["seed"], row["meta"], options)


def delete_job(ws, job_id: str) -> dict:
    """Remove a finished job with everything it keeps on disk (run folder, stored report, built downloads)."""
    from anchortune.app import retention

    row = job(ws, job_id)
    if row["status"] not in states.FINAL:
        raise StateError(say("e_delete_active", id=job_id))
    shutil.rmtree(run_folder(ws, job_id), ignore_errors=True)
    _stored_report(ws, job_id).unlink(missing_ok=True)
    retention.forget_downloads(ws, job_id)
    ws.store.delete_job(job_id)
    return row


def run_folder(ws, job_id: str) -> Path:
    return ws.data / "runs" / job_id


def summary(ws, job_id: str) -> dict | None:
    path = RunFolder(run_folder(ws, job_id)).summary
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# work for the worker ---------------------------------------------------------------------------------------------
def worker(ws, name: str | None = None, dispatch=None, nice: int = 0) -> Worker:
    """A worker over the studio's store; with `dispatch` (app/ray_dispatch.py's RayDispatch) its trainings run
    on a cluster, validation here; `nice` lowers its CPU priority (a studio's embedded workers)."""
    train = (lambda ctx: dispatch.train(ws, ctx)) if dispatch else (lambda ctx: train_job(ws, ctx))
    return Worker(ws.store, lambda ctx: validate_job(ws, ctx), train, ws.config.lease_s, name=name, nice=nice)


def validate_job(ws, ctx: JobContext) -> None:
    """Read the data, resolve the model, judge the anchor points and store the report; a poor verdict fails the
    job unless forced."""
    from anchortune.app import datasets
    from anchortune.app.models import prepare_model

    row = ctx.job
    cfg = run_config(ws, row)
    if cfg.objective in PREFERENCE_OBJECTIVES:  # preference pairs: their own reader and gate
        pairs = datasets.read_pairs(cfg.data)
        if cfg.valid_data:
            datasets.read_pairs(cfg.valid_data)
        prepare_model(cfg.model)
        report = datasets.check_pair_data(cfg.data, cfg.task, cfg.model, pairs, cfg.max_length)
    else:
        points = datasets.read_anchor_points(cfg.data)
        if cfg.valid_data:
            datasets.read_anchor_points(cfg.valid_data)
        prepare_model(cfg.model)
        report = datasets.check_data(cfg.data, cfg.task, cfg.model, points=points, max_length=cfg.max_length)
    RunFolder(ws.data / "reports").write_json(_stored_report(ws, row["id"]), report.to_json())
    datasets.remember_quality(ws, row["training_file"], row["task"], row["model"], report.to_json())
    ctx.report("warning" if report.verdict != "good" else "info",
               quality_line(report.to_json(), "log_pair_quality" if cfg.objective in PREFERENCE_OBJECTIVES else
                            "log_quality"),
               data={"verdict": report.verdict, "scores": report.scores})
    if report.verdict == "poor" and not row["options"].get("force"):
        raise QualityError(report.reasons, report.advice, override=None)  # the job page offers "train anyway"
    if report.verdict == "poor":
        ctx.report("warning", say("log_quality_forced"))


def quality_line(report: dict, key: str = "log_quality") -> str:
    """The log line of a quality verdict: 'anchor point quality: fair (relevance 80, ...); reasons' (preference pair
    quality with key log_pair_quality)."""
    scores = ", ".join(say(f"q_score_{k}", value=v) for k, v in report["scores"].items())
    return say(key, verdict=report["verdict"], scores=scores, reasons="; ".join(report["reasons"]))


def train_job(ws, ctx: JobContext) -> dict:
    """Train with the report validation stored (or resume from the last checkpoint after a worker died); the
    fields of the succeeded job."""
    from anchortune.app.recorder import JobRecorder
    from anchortune.app.runs import train_run  # the task run, or the preference run for a dpo/orpo job

    from anchortune.app import retention

    row = ctx.job
    folder = RunFolder(run_folder(ws, row["id"]))
    resume = prepare_folder(ws, ctx, folder, folder.last_checkpoint_step() if folder.is_run() else None)
    outcome = train_run(run_config(ws, row), folder.root, resume=resume,
                        on_event=JobRecorder(ctx, ws.store), force=True, quality=stored_quality(ws, row["id"]))
    retention.after_success(ws, ctx, outcome.summary)
    return {**finished_fields(row, outcome.summary, folder.root), "disk_bytes": retention.folder_bytes(folder.root)}


def prepare_folder(ws, ctx: JobContext, folder: RunFolder, last: int | None) -> bool:
    """Ready a job's run folder for its (next) start: resume from the checkpoint at `last` (its later metrics
    dropped), or clear what a start that died before its first checkpoint left; True to resume."""
    if last is not None:
        ws.store.drop_metrics_after(ctx.job["id"], last)
        ctx.report("warning", say("log_resuming", step=last), step=last, data={"resumed_from": last})
        return True
    started_before = any(e["type"] in ("metrics", "progress") for e in ws.store.events(ctx.job["id"], limit=None))
    if folder.root.exists() or started_before:  # a start that died before its first checkpoint
        shutil.rmtree(folder.root, ignore_errors=True)
        ws.store.drop_metrics_after(ctx.job["id"], 0)
        ws.store.drop_progress(ctx.job["id"])
        ctx.report("warning", say("log_restarting"), data={"restarted": True})
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
    compute = options.pop("compute_multiplier", None)
    if compute is not None:  # OpenAI's exploration compute: the answers sampled per prompt
        options["num_generations"] = max(2, min(64, round(REINFORCEMENT_DEFAULTS["num_generations"] * compute)))
    multiplier = row["options"].get("learning_rate_multiplier")
    if multiplier is not None:
        options["learning_rate"] = load_preset(row["task"]).hyperparameters.learning_rate * multiplier
    valid = str(datasets.file_path(ws, row["validation_file"])) if row["validation_file"] else None
    return RunConfig.build(data=str(datasets.file_path(ws, row["training_file"])), task=row["task"],
                           model=model_spec(ws, row["model"]), valid_data=valid, seed=row["seed"],
                           tracking_uri=tracking.tracking_uri(ws, options.get("track") or "none"), **options)


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
        elif key == "track":  # experiment tracking (app/tracking.py), a hyperparameter as engine is
            if value not in TRACKERS:
                raise ConfigError(say("e_track_choice", text=value), param="hyperparameters.track")
            out["track"] = value
        elif key == "beta":
            out["beta"] = _positive(key, value, limit=10)
        elif key == "eval_interval":  # reinforcement: OpenAI's steps between evaluations
            out["eval_every"] = int(_positive(key, value, limit=10_000_000, whole=True))
        elif key == "compute_multiplier":
            out["compute_multiplier"] = _positive(key, value, limit=16)
        elif key in ("num_generations", "max_answer_tokens"):  # anchortune's reinforcement options
            out[key] = int(_positive(key, value, limit=65_536, whole=True))
        elif key == "engine":
            if value not in ("auto", "fast", "standard"):
                raise ConfigError(f"hyperparameters.engine: expected auto, fast or standard, got {value!r}")
            out["engine"] = value
        else:
            raise ConfigError(f"hyperparameters.{key} is not supported; use n_epochs, batch_size, "
                              "learning_rate_multiplier, beta (dpo, reinforcement), eval_interval, compute_multiplier, "
                              "num_generations, max_answer_tokens (reinforcement), engine or track")
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
