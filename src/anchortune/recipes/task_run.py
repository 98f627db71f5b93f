"""The task run (`anchortune train`, `anchortune demo`, a studio job): fine-tune anchor points into a run folder.

Every input is read and checked first; the quality gate judges the data (recipes/check.py), unless a job's
validation hands over the report it stored (one gate per job), and a poor verdict stops the run unless forced; the
preflight refuses a run that cannot fit (train/preflight.py). A run on several processes is launched from here
(train/distributed.py) and each of its workers comes back through recipes/launched.py to `train_worker`; otherwise
it trains here: split and encode, measure the base model, train, choose the checkpoint and adapter scale by
balance, diagnose, answer the held-out prompts with base and tuned model and judge the answers (train/held_out.py),
export adapter and merged model, write summary (with the data's lineage: tracking/lineage.py), report and model
card. The run session (train/session.py) resolves the model, owns the folder and is the door into the engine. With
cfg.track, the process that writes the run folder tracks the run (tracking/: its events as they come, its facts once
it is done; a distributed run's events as its workers report them to the parent).

Each phase is announced as a stage event (STAGES: evaluating the base model, training, final evaluation,
generating held-out answers, merging) with its estimated seconds, and reports its progress, so a page never
shows a training ETA of 0 s while minutes of evaluation remain.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from anchortune import tracking
from anchortune.config import RunConfig
from anchortune.data.loading import CsvColumns, load_anchor_points
from anchortune.data.presets import Preset, load_preset
from anchortune.data.records import AnchorPoint
from anchortune.data.split import MIN_EXAMPLES
from anchortune.errors import DataError, ModelError, Problem, QualityError, RunError
from anchortune.messages import say
from anchortune.models.catalog import DEFAULT_MODEL
from anchortune.run_folder import RunFolder
from anchortune.tracking import lineage
from anchortune.train import distributed, held_out
from anchortune.train.events import Event, EventSink, ignore
from anchortune.train.session import RunSession

SAMPLES = 3
LAUNCHED = "anchortune.recipes.launched"  # what each process of a distributed run runs (`python -m`)
STAGES = ("base_eval", "training", "final_eval", "answers", "merging")


def stage(on_event: EventSink, name: str, step: int = 0, eta_s: float | None = None) -> None:
    """Announce the run's next phase (a STAGES name) with its estimated seconds, where known."""
    on_event(Event("stage", step, {"stage": name, "index": STAGES.index(name) + 1, "of": len(STAGES),
                                   "eta_s": eta_s, "message": say("log_stage", stage=say(f"stage_{name}"))}))


@dataclass
class RunOutcome:
    """What train_run hands back: where the run lies and its summary (as in summary.json)."""

    folder: Path
    summary: dict


def train_run(cfg: RunConfig, out: str | Path, resume: bool = False, on_event: EventSink = ignore,
              force: bool = False, quality: dict | None = None, launch=None) -> RunOutcome:
    """Fine-tune from anchor points into `out` (see the module docstring). With resume, the config stored in `out`
    is used and training continues from its last checkpoint. `launch` (train/distributed.py) places the processes
    of a run on several devices or machines (default: cfg.devices x cfg.nodes); only node 0 writes the run."""
    from anchortune.quality.report import QualityReport
    from anchortune.train import preflight

    launch = launch or distributed.Launch(cfg.devices, cfg.nodes)
    with RunSession(cfg, out, on_event, resume=resume, writer=launch.node_rank == 0) as session:
        if resume:
            launch = distributed.Launch(session.cfg.devices, session.cfg.nodes, launch.node_rank, launch.master)
        tracking.require(session.cfg)  # an optional backend that is missing, before any work
        preset, points = _anchor_points(session)
        preflight.refuse_unfit(session.cfg, launch, on_event)
        report = None
        if not resume and session.writer:
            report = _gate(session.cfg, points, on_event, force) if quality is None else \
                QualityReport.from_json(quality)
        tell = lambda kind, message: on_event(Event(kind, 0, {"message": message}))  # noqa: E731
        with tracking.track(session.cfg, session.folder.root, resume, tell, active=session.writer) as tracked:
            session.on_event = tracked.sink(on_event)  # the run's events (and metrics rows) logged as they come
            if launch.processes > 1:
                summary = distributed.run(session.cfg, session.folder.root, resume,
                                          report.to_json() if report else None, launch, LAUNCHED, session.on_event)
            else:
                summary = _train(session, preset, points, report)
            tracked.finish(summary, session.folder.root)
        return RunOutcome(session.folder.root, summary)


def train_worker(cfg: RunConfig, out: str | Path, resume: bool, quality: dict | None) -> None:
    """One worker's part of a distributed run (recipes/launched.py): its parent checked the folder, the data and the
    fit and judged the data; rank 0 writes the run, the others only train."""
    from anchortune.quality.report import QualityReport

    with RunSession(cfg, out, resume=resume, writer=distributed.is_main(), checked=False) as session:
        preset, points = _anchor_points(session)
        report = QualityReport.from_json(quality) if quality and not resume and session.writer else None
        _train(session, preset, points, report)


def _anchor_points(session: RunSession) -> tuple[Preset, list[AnchorPoint]]:
    """The task preset (resolved for the data) and the anchor points; every input read before the gate's and the
    training's minutes. The session's config is resolved against the preset."""
    cfg = session.cfg
    preset = load_preset(cfg.task)
    columns = CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter)
    points = load_anchor_points(cfg.data, columns)
    if cfg.valid_data:
        load_anchor_points(cfg.valid_data, columns)
    elif len(points) < MIN_EXAMPLES:
        raise DataError([Problem(cfg.data, 0, None, say("x_task_run_too_few_points", n=len(points),
                                                        needed=MIN_EXAMPLES))])
    preset = preset.resolved_for(points)
    session.resolve(preset)
    if any(p.tools for p in points):  # a template that drops tool calls is refused before the gate's minutes
        from anchortune.data import chat_templates

        chat_templates.refuse_unrenderable(session.tokenizer, cfg.model or DEFAULT_MODEL)
    return preset, points


def _gate(cfg: RunConfig, points: list[AnchorPoint], on_event: EventSink, force: bool):
    """Judge the anchor points before training; stop on a poor verdict unless forced."""
    from anchortune.recipes.check import check_data

    report = check_data(cfg.data, cfg.task, cfg.model, points=points, max_length=cfg.max_length)
    on_event(Event("info", 0, {"message": f"anchor point quality: {report.summary()}"}))
    if report.verdict == "poor":
        if not force:
            raise QualityError(report.reasons, report.advice)
        on_event(Event("warning", 0, {"message": "quality verdict is poor; training anyway (--force)"}))
    return report


def _train(session: RunSession, preset: Preset, points: list[AnchorPoint], report) -> dict:
    """Split, encode, measure the base model, train, choose by balance, export; the run summary ({} on a process
    that does not write)."""
    from anchortune.data.tokenize import encode
    from anchortune.evaluate import balance
    from anchortune.export.merge import save_outputs
    from anchortune.train import averaging, choice
    from anchortune.train.engine import nonfinite_weights

    cfg, folder, tokenizer, emit = session.cfg, session.folder, session.tokenizer, session.on_event
    tool_run = any(p.tools for p in points)  # tool calls rendered whole by the template (checked: _anchor_points)
    if report is not None:
        _store_quality(folder, report, points, cfg.data, cfg.language)
    train_points, valid_points = _held_out(points, cfg)
    train_set, train_report, valid_set, valid_report = session.encode_parts(encode, preset, train_points, valid_points)
    if session.writer:
        folder.root.mkdir(parents=True, exist_ok=True)
        if not session.resume:  # the anchor points go into the folder: the run reads them wherever it is moved
            folder.write_config(cfg)
        else:
            folder.keep_metrics_until(folder.last_checkpoint_step() or 0)
    for encoding, name in ((train_report, "training"), (valid_report, "validation")):
        if encoding.truncated_lines or encoding.dropped_lines:
            emit(Event("warning", 0, {"message": say(f"log_data_warning_{name}", summary=encoding.summary())}))
    emit(Event("info", 0, {"message": say("log_examples", train=len(train_set), valid=len(valid_set),
                                          summary=train_report.summary())}))
    model = session.load_model()
    stage(emit, "base_eval")
    baseline = session.baseline(model, valid_set)
    if not math.isfinite(baseline.valid_loss):
        raise ModelError(f"the base model '{cfg.model or DEFAULT_MODEL}' gives a held-out loss of "
                         f"{baseline.valid_loss}: its weights are damaged")
    emit(Event("info", 0, {"message": say("log_base_model", loss=f"{baseline.valid_loss:.4f}",
                                          general=_general_text(baseline))}))
    train_set = train_set + _replay(session, model, len(train_set))
    if cfg.kl_general:
        baseline.kl_rows = _replay_rows(session, model)
        emit(Event("info", 0, {"message": say("log_kl", n=len(baseline.kl_rows), weight=cfg.kl_general)
                               if baseline.kl_rows else say("log_kl_off")}))
    history = folder.read_metrics() if session.resume else []
    stage(emit, "training")
    held = valid_points[:held_out.ANSWER_ROWS]
    finals = len(choice.SCALES) + 1  # the final evaluation: the adapter scales and the average
    later = held_out.after_training(len(held), preset.output.format, finals,
                                    sum(len(e["input_ids"]) for e in valid_set))
    result = session.fine_tune(model, train_set, valid_set, baseline=baseline, history=history,
                               resume=session.resume, after_training=later)
    if not session.writer:
        return {}
    bad, total = nonfinite_weights(result.model)
    if bad:
        raise RunError(f"training diverged: {bad:,} of {total:,} weights are NaN or infinite (learning rate "
                       f"{cfg.learning_rate:g}); nothing of it can be kept: lower --lr and train again")
    stage(emit, "final_eval", result.steps, result.eval_seconds * finals if result.eval_seconds else None)
    tick = _ticker(emit, result.steps, finals)
    candidates = result.candidates + choice.more_candidates(session, result, baseline, valid_set, folder.checkpoints,
                                                            tick)
    picked, runners_up = balance.choose(balance.score(candidates, baseline.reference())) \
        if candidates else (None, [])
    if picked is not None and picked.averaged:
        averaging.load_average(result.model, folder.checkpoints, picked.averaged)
        emit(Event("info", result.steps, {"message": say("log_kept_average",
                                                         steps=", ".join(map(str, picked.averaged)))}))
    tuned_loss = picked.valid_loss if picked is not None and picked.valid_loss is not None else \
        session.answer_loss(result.model, valid_set)
    metrics = folder.read_metrics()
    full = next((c for c in candidates if picked and c.step == picked.step and c.scale == 1.0), None)
    diagnosis = balance.diagnose([r for r in metrics if "train_loss" in r], [r for r in metrics if "valid_loss" in r],
                                 baseline.valid_loss, picked, full) if picked else None
    scale = picked.scale if picked else 1.0
    with choice.adapter_scale(result.model, scale):
        stage(emit, "answers", result.steps, later(result.eval_seconds, answers_only=True)
              if result.eval_seconds else None)
        answers = held_out.answers(result.model, tokenizer, session.source, preset, held, session.precision,
                                   result.steps, emit)
        tools, tool_verdict = held_out.tool_call_check(result.model, tokenizer, session.source, preset, held, answers,
                                                       session.precision, diagnosis.to_json() if diagnosis else None) \
            if tool_run and held else (None, None)
        stage(emit, "merging", result.steps)
        save_outputs(result.model, tokenizer, folder.root, scale=scale)
    check, verdict = held_out.judge(preset, held, answers, train_points,
                                    diagnosis.to_json() if diagnosis else None) if held else (None, None)
    samples = [{"line": p.line, "prompt": p.prompt, "reference": p.answer, "base": b, "tuned": t}
               for p, b, t in zip(held[:SAMPLES], answers["base"], answers["tuned"])]
    summary = _summary(cfg, preset, points, (train_set, valid_set), (train_report, valid_report), result, baseline,
                       (picked, runners_up, candidates, diagnosis), tuned_loss, samples)
    summary["answers"] = check.to_json() if check else None
    verdict = tool_verdict or verdict  # a tool-calling run is judged by its calls
    summary["tool_calls"] = tools
    summary["verdict"] = (verdict if isinstance(verdict, dict) else verdict.to_json()) if verdict else None
    summary["lineage"] = lineage.describe(folder.root, len(points), len(valid_points) if cfg.valid_data else None)
    said = summary["verdict"] or (diagnosis.to_json() if diagnosis else None)
    return conclude(session, summary, metrics, said, result.steps, baseline.valid_loss, tuned_loss)


def conclude(session, summary: dict, metrics: list[dict], verdict: dict | None, steps: int, base_valid, tuned_valid):
    """A training run's last writes, the same for every training recipe: the gate's verdict of its data (quality.json)
    kept in the summary, report.html and report.md, summary and model card (the session's last writes), then the
    verdict's line and the done event. Returns the summary."""
    from anchortune.export.card import render

    stored = session.folder.root / "quality.json"
    if stored.is_file():
        kept = json.loads(stored.read_text(encoding="utf-8"))
        summary["quality"] = {k: kept[k] for k in ("verdict", "scores", "reasons", "advice", "counts")}
    _write_run_report(session.folder, summary, metrics, session.cfg.language)
    session.finish(summary, render(summary, session.cfg.language))
    if verdict:
        session.on_event(Event("info", steps, {"message": say("log_verdict", verdict=verdict["verdict"],
                                                              reason=verdict["reason"]),
                                               "verdict": verdict["verdict"]}))
    session.on_event(Event("done", steps, {"base_valid": base_valid, "tuned_valid": tuned_valid}))
    return summary


def _summary(cfg: RunConfig, preset: Preset, points, sets, encodings, result, baseline, choice, tuned_loss,
             samples) -> dict:
    """The run's summary.json: data, training, losses, the balance guard's choice and verdict, sample answers."""
    (train_set, valid_set), (train_report, valid_report) = sets, encodings
    picked, runners_up, candidates, diagnosis = choice
    return {
        "task": preset.name, "metric": preset.metric, "base_model": cfg.model or DEFAULT_MODEL,
        "data": {"file": Path(cfg.data).name, "examples": len(points), "train": len(train_set),
                 "valid": len(valid_set), "labels": dict(Counter(p.label for p in points if p.label).most_common()),
                 "encoding": {"train": train_report.to_json(), "valid": valid_report.to_json()},
                 "encoding_summary": train_report.summary()},
        "training": {"method": cfg.method, "precision": result.precision, "steps": result.steps,
                     "max_steps": result.max_steps, "best_step": picked.step if picked else None,
                     "averaged_steps": picked.averaged if picked else None,
                     "checkpoint": _checkpoint_words(picked),
                     "adapter_scale": picked.scale if picked else 1.0,
                     "best_valid_loss": picked.valid_loss if picked else None, "stopped_early": result.stopped_early,
                     "train_seconds": result.train_seconds, "tokens_trained": result.tokens_trained,
                     "tokens_this_start": result.tokens_this_start, "tokens_per_s": result.tokens_per_second,
                     "allocator": allocator_name(),
                     "kernels": kernels_name(result.precision, result.engine),
                     "engine": result.engine.to_json() if result.engine else None,
                     "kl_general": cfg.kl_general, "kl_rows": len(baseline.kl_rows), "parallel": result.parallel},
        "losses": {"base_valid": baseline.valid_loss, "tuned_valid": tuned_loss,
                   "base_probe": baseline.probe_loss, "tuned_probe": picked.probe_loss if picked else None,
                   "base_text": baseline.measured.get("text_loss"), "tuned_text": picked.text_loss if picked else None,
                   "base_cloze": baseline.measured.get("cloze_accuracy"),
                   "tuned_cloze": picked.cloze_accuracy if picked else None,
                   "general_measures_used": [k for k, v in (("text", baseline.text_loss),
                                                            ("cloze", baseline.cloze_accuracy)) if v is not None]},
        "balance": {"chosen": picked.to_json() if picked else None, "runners_up": [c.to_json() for c in runners_up],
                    "candidates": [c.to_json() for c in candidates],
                    "diagnosis": diagnosis.to_json() if diagnosis else None},
        "samples": samples,
    }


def _checkpoint_words(picked) -> str | None:
    from anchortune.evaluate import balance

    return balance.checkpoint_words(picked.step, picked.averaged) if picked else None


def kernels_name(precision: str, engine=None) -> str:
    """What ran the elementwise work of a bf16 CPU training (engine/native.py): 'compiled' or 'torch (why)'."""
    from anchortune.engine import native

    part = engine.parts.get("kernels") if engine is not None else None
    if part is not None and part.applies and not part.fast:
        return f"torch ({part.why})"
    return native.describe() if precision == "bf16" else "torch (fp32: the kernels are bf16 only)"


def allocator_name() -> str:
    """The memory allocator this process runs on (training speed depends on it; see allocator.py)."""
    from anchortune import allocator

    active = allocator.active()
    return Path(active).name if active else "system"


def _store_quality(folder: RunFolder, report, points: list[AnchorPoint], source: str, lang: str = "en") -> None:
    """The gate's report in the run folder: quality.json (data) and quality.html in the run's language."""
    from anchortune.recipes.check import write_quality_outputs

    folder.root.mkdir(parents=True, exist_ok=True)
    write_quality_outputs(report, points, Path(source).name, json_out=folder.root / "quality.json",
                          html_out=folder.root / "quality.html", lang=lang)


def _held_out(points: list[AnchorPoint], cfg: RunConfig) -> tuple[list[AnchorPoint], list[AnchorPoint]]:
    """Training and validation points: the validation file when one is given, else a seeded split."""
    from anchortune.data.split import split

    if cfg.valid_data:
        columns = CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter)
        return points, load_anchor_points(cfg.valid_data, columns)
    return split(points, cfg.val_fraction, cfg.seed)


def _general_text(baseline) -> str:
    """The base model's general ability in words, saying which measures it fails itself (and so cannot lose)."""
    scores, parts = baseline.measured, []
    if "text_loss" in scores:
        parts.append(say("log_general_text_loss" if baseline.text_loss is not None else "log_general_text_loss_unused",
                         loss=f"{scores['text_loss']:.3f}"))
    if scores.get("cloze_accuracy") is not None:
        parts.append(say("log_cloze_accuracy" if baseline.cloze_accuracy is not None else "log_cloze_accuracy_unused",
                         accuracy=f"{scores['cloze_accuracy']:.0%}"))
    if baseline.probe_loss:
        parts.append(say("log_probe_loss", loss=f"{baseline.probe_loss:.4f}"))
    return ", ".join(parts) or say("log_no_general")


def _replay(session: RunSession, model, n_train: int) -> list[dict]:
    """cfg.replay x n_train general samples (the base model's answers to the replay prompts), cycled."""
    count = round(session.cfg.replay * n_train)
    if count == 0:
        return []
    samples = _replay_rows(session, model)
    return [samples[i % len(samples)] for i in range(count)] if samples else []


def _replay_rows(session: RunSession, model) -> list[dict]:
    """The base model's own answers to the replay prompts, encoded (replay samples, and the KL term's rows)."""
    from anchortune.data.tokenize import encode
    from anchortune.evaluate.probe import base_answers

    answers = base_answers(model, session.tokenizer, "replay", session.source, session.precision)
    return encode(answers, load_preset("custom"), session.tokenizer, 256)[0]


def _write_run_report(folder: RunFolder, summary: dict, metrics: list[dict], lang: str) -> None:
    """report.html and report.md in the run's language (the command line's --lang, the studio's page language)."""
    from anchortune.evaluate.report import render_html, render_markdown

    folder.write_text(folder.root / "report.html", render_html(summary, metrics, lang))
    folder.write_text(folder.root / "report.md", render_markdown(summary, lang))



def _ticker(on_event: EventSink, step: int, parts: int):
    """A function to call after each of `parts` measurements of the final evaluation: its progress event."""
    import time

    started, done = time.perf_counter(), [0]

    def tick() -> None:
        done[0] += 1
        spent = time.perf_counter() - started
        on_event(Event("progress", step, {"stage": "final_eval", "fraction": min(1.0, done[0] / parts),
                                          "eta_s": spent / done[0] * max(0, parts - done[0])}))

    return tick
