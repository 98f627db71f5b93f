"""Runs: fine-tune anchor points into a run folder (the quality gate first, or the verdict a job's validation
stored), compare base and tuned on held-out points, and evaluate a finished run."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from anchortune import scratch, tracking
from anchortune.app.outputs import output_folder
from anchortune.config import RunConfig
from anchortune.data.loading import CsvColumns, load_anchor_points
from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.data.split import MIN_EXAMPLES
from anchortune.errors import AnchortuneError, DataError, Problem, QualityError, RunError
from anchortune.run_folder import RunFolder
from anchortune.evaluate.balance import general_summary  # noqa: F401  (for shells that show a run's progress)
from anchortune.train.distributed import Launch  # noqa: F401  (the shells' name for a launch)
from anchortune.train.events import Event, EventSink, ignore

SAMPLES = 3


@dataclass
class RunOutcome:
    """What train_run hands back: where the run lies and its summary (as in summary.json)."""

    folder: Path
    summary: dict


def train_run(cfg: RunConfig, out: str | Path, resume: bool = False, on_event: EventSink = ignore,
              force: bool = False, quality: dict | None = None, launch=None) -> RunOutcome:
    """Fine-tune from anchor points into `out`: validate, judge, split, train, compare, export, write the card.

    The quality gate runs first, unless `quality` hands over the report a job's validation already made of
    this data (one gate per job); a poor verdict stops the run (QualityError) unless `force`. With resume, the
    config stored in `out` is used and training continues from its last checkpoint. A new run that fails for a
    reason (an AnchortuneError: diverged, too little data) removes the folder it created; one stopped before its
    first checkpoint too, and one stopped later keeps its complete checkpoints for --resume (never a half-saved
    one). A run on more than one process (cfg.devices x
    cfg.nodes, or `launch`: train/distributed.py) is checked here (gate, preflight) and launched; its workers
    come back here, where only rank 0 of node 0 writes. With cfg.track, the process that writes the run folder
    tracks the run (tracking/: its events as they come, its facts once it is done)."""
    from anchortune.quality.report import QualityReport
    from anchortune.train import distributed

    folder = RunFolder(out)
    if (folder.load_config() if resume and folder.is_run() else cfg).objective != "supervised":
        from anchortune.app.preference_run import train_preference  # preference pairs: DPO or ORPO

        return train_preference(cfg, out, resume, on_event, force, quality)
    launch = launch or distributed.Launch(cfg.devices, cfg.nodes)
    writer = distributed.is_main() and launch.node_rank == 0  # the process whose files the run folder holds
    if writer and not distributed.inside():
        output_folder(folder.root, "--out")
    if resume:
        cfg = folder.load_config()
        launch = distributed.Launch(cfg.devices, cfg.nodes, launch.node_rank, launch.master)
        if writer and not distributed.inside():
            for name in folder.drop_incomplete_checkpoints():
                on_event(Event("warning", 0, {"message": f"removed {name}: its save was cut off"}))
    elif writer and not distributed.inside() and not folder.is_fresh_target():
        raise RunError(f"'{folder.root}' already exists and is not empty; choose another --out or pass --resume")
    if not distributed.inside():
        tracking.require(cfg)  # an optional backend that is missing, before any work
    preset = load_preset(cfg.task)
    columns = CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter)
    points = load_anchor_points(cfg.data, columns)
    if cfg.valid_data:  # every input read before the gate's and the training's minutes
        load_anchor_points(cfg.valid_data, columns)
    elif len(points) < MIN_EXAMPLES:
        raise DataError([Problem(cfg.data, 0, None, f"{len(points)} anchor point(s) are too few to hold out a "
                                                    f"validation split: at least {MIN_EXAMPLES} are needed (one of them "
                                                    "held out to measure the tuned model on)")])
    preset = preset.resolved_for(points)
    cfg = cfg.resolve(preset)
    if any(p.tools for p in points):  # a template that drops tool calls is refused before the gate's minutes
        _refuse_tool_template(cfg)
    from anchortune.train.pipeline import run_training

    parent = launch.processes > 1 and not distributed.inside()
    if not distributed.inside():
        from anchortune.train import preflight

        preflight.refuse_unfit(cfg, launch, on_event)
    report = None
    if not resume and writer:
        if not distributed.inside():
            report = _gate(cfg, points, on_event, force) if quality is None else QualityReport.from_json(quality)
        elif quality:  # a worker: the parent judged the data
            report = QualityReport.from_json(quality)
    new = writer and not resume and folder.is_fresh_target()  # what this run writes is all the folder holds
    existed = folder.root.exists()
    tell = lambda kind, message: on_event(Event(kind, 0, {"message": message}))  # noqa: E731
    with scratch.pending(lambda: _leave(folder, new, existed, failed=False)):
        try:
            if report is not None and not parent:
                _store_quality(folder, report, points, cfg.data)
            with tracking.track(cfg, folder.root, resume, tell, active=writer and not distributed.inside()) as tracked:
                if parent:
                    summary = distributed.run(cfg, folder.root, resume, report.to_json() if report else None, launch,
                                              tracked.sink(on_event))
                else:
                    summary = run_training(folder, cfg, preset, points, resume, tracked.sink(on_event))
                tracked.finish(summary, folder.root)
            return RunOutcome(folder.root, summary)
        except AnchortuneError:
            if writer:
                _leave(folder, new, existed, failed=True)
            raise
        except BaseException:
            if writer:
                _leave(folder, new, existed, failed=False)
            raise


def _refuse_tool_template(cfg: RunConfig) -> None:
    from anchortune.data import chat_templates
    from anchortune.models.catalog import DEFAULT_MODEL
    from anchortune.models.loading import load_tokenizer, resolve_model

    tokenizer = chat_templates.use(load_tokenizer(resolve_model(cfg.model)), cfg.chat_template)
    chat_templates.refuse_unrenderable(tokenizer, cfg.model or DEFAULT_MODEL)


def _leave(folder: RunFolder, new: bool, existed: bool, failed: bool) -> None:
    """Clean up after a run that did not finish: a new run's folder goes (an --out that existed empty is emptied)
    when the run failed for a reason (nothing in it can be resumed) or was stopped before its first complete
    checkpoint; otherwise only checkpoints whose save was cut off go, and --resume continues from the rest."""
    if new and (failed or folder.last_checkpoint_step() is None):
        if not existed:
            shutil.rmtree(folder.root, ignore_errors=True)
        elif folder.root.is_dir():
            for child in folder.root.iterdir():
                scratch.remove(child)
    elif folder.root.is_dir():
        folder.drop_incomplete_checkpoints()


def _gate(cfg: RunConfig, points: list[AnchorPoint], on_event: EventSink, force: bool):
    """Judge the anchor points before training; stop on a poor verdict unless forced."""
    from anchortune.app.datasets import check_data

    report = check_data(cfg.data, cfg.task, cfg.model, points=points, max_length=cfg.max_length)
    on_event(Event("info", 0, {"message": f"anchor point quality: {report.summary()}"}))
    if report.verdict == "poor":
        if not force:
            raise QualityError(report.reasons, report.advice)
        on_event(Event("warning", 0, {"message": "quality verdict is poor; training anyway (--force)"}))
    return report


def _store_quality(folder: RunFolder, report, points: list[AnchorPoint], source: str) -> None:
    from anchortune.app.datasets import write_quality_outputs

    folder.root.mkdir(parents=True, exist_ok=True)
    write_quality_outputs(report, points, Path(source).name, json_out=folder.root / "quality.json",
                          html_out=folder.root / "quality.html")


def compare_on(run: str | Path, points: list[AnchorPoint], samples: int = SAMPLES) -> dict:
    """Base and tuned model of a run on held-out anchor points: answer loss and a few answers side by side."""
    from anchortune.data.tokenize import encode
    from anchortune.engine import precision
    from anchortune.engine.loss import answer_loss
    from anchortune.evaluate.generation import generate
    from anchortune.models.loading import load_model, load_tokenizer, load_tuned, resolve_model

    folder = RunFolder(run)
    cfg = folder.load_config()
    preset = load_preset(cfg.task).resolved_for(points)
    chosen = precision.choose(cfg.precision)
    result: dict = {"examples": len(points), "precision": chosen}
    conversations = [preset.to_messages(p)[:-1] for p in points[:samples]]
    base_source = resolve_model(cfg.model)
    for name, source in (("base", base_source), ("tuned", folder.model)):
        tokenizer = load_tokenizer(source)
        model = load_model(source) if name == "base" else load_tuned(folder.root, base_source)
        examples, report = encode(points, preset, tokenizer, cfg.max_length)
        result[f"{name}_loss"] = answer_loss(model, examples, tokenizer.pad_token_id, cfg.batch_size, chosen,
                                             engine=cfg.engine)
        result[f"{name}_answers"] = generate(model, tokenizer, conversations, precision=chosen)
        result["encoding"] = report.to_json()
    result["samples"] = [{"line": p.line, "prompt": p.prompt, "reference": p.answer, "base": b, "tuned": t}
                         for p, b, t in zip(points, result.pop("base_answers"), result.pop("tuned_answers"))]
    return result


def evaluate_run(run: str | Path, data: str | Path | None = None, general_text: str | Path | None = None,
                 choices: str | Path | None = None, limit: int = 200) -> dict:
    """Base against tuned on held-out anchor points with the task's metric, plus general retention.

    Without `data`, the run's own validation split is used. Every input is checked before any generation.
    Writes eval.json and eval.md into the run.
    """
    from anchortune.evaluate.evaluation import evaluate

    return evaluate(RunFolder(run), data, general_text, choices, limit)
