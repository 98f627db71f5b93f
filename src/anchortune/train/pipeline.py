"""One fine-tuning run end to end, inside its run folder: split and encode the anchor points, measure the
base model (validation loss, general probe), train, choose the checkpoint and adapter scale by balance,
diagnose, answer the held-out prompts with base and tuned model and judge the answers (train/held_out.py),
export adapter and merged model, write summary (with the data's lineage: tracking/lineage.py), report and model
card. The quality gate and the folder's life cycle are app.runs'; this module does the work between them.

Each phase is announced as a stage event (STAGES: evaluating the base model, training, final evaluation,
generating held-out answers, merging) with its estimated seconds, and reports its progress, so a page never
shows a training ETA of 0 s while minutes of evaluation remain.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from anchortune.config import RunConfig
from anchortune.data.presets import Preset, load_preset
from anchortune.data.records import AnchorPoint
from anchortune.errors import ModelError, RunError
from anchortune.messages import say
from anchortune.run_folder import RunFolder
from anchortune.models.catalog import DEFAULT_MODEL
from anchortune.tracking import lineage
from anchortune.data import chat_templates
from anchortune.train import distributed, held_out
from anchortune.train.events import Event, EventSink, ignore

SAMPLES = 3
STAGES = ("base_eval", "training", "final_eval", "answers", "merging")


def stage(on_event: EventSink, name: str, step: int = 0, eta_s: float | None = None) -> None:
    """Announce the run's next phase (a STAGES name) with its estimated seconds, where known."""
    on_event(Event("stage", step, {"stage": name, "index": STAGES.index(name) + 1, "of": len(STAGES),
                                   "eta_s": eta_s, "message": say("log_stage", stage=say(f"stage_{name}"))}))


def run_training(folder: RunFolder, cfg: RunConfig, preset: Preset, points: list[AnchorPoint], resume: bool,
                 on_event: EventSink) -> dict:
    """Split, encode, measure the base model, train, choose by balance, export; the run summary."""
    from anchortune.data.tokenize import encode
    from anchortune.evaluate import balance
    from anchortune.engine.loss import answer_loss
    from anchortune.export.card import render
    from anchortune.export.merge import save_outputs
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model
    from anchortune.engine import precision
    from anchortune.train import averaging
    from anchortune.train.engine import fine_tune, nonfinite_weights

    source = resolve_model(cfg.model)
    tokenizer = chat_templates.use(load_tokenizer(source), cfg.chat_template)
    tool_run = any(p.tools for p in points)
    if tool_run:  # assistant turns with their tool calls, rendered whole by the template, or refused
        chat_templates.refuse_unrenderable(tokenizer, cfg.model or DEFAULT_MODEL)
    train_points, valid_points = _held_out(points, cfg)
    train_set, train_report = encode(train_points, preset, tokenizer, cfg.max_length)
    valid_set, valid_report = encode(valid_points, preset, tokenizer, cfg.max_length)
    for examples, name, given in ((train_set, "training", train_points), (valid_set, "validation", valid_points)):
        if not examples:
            raise RunError(f"none of the {len(given)} {name} examples keeps an answer token within {cfg.max_length} "
                           "tokens; raise --max-length or shorten the prompts")
    writer = distributed.is_main()  # rank 0 writes the run folder; other ranks of a distributed run only train
    if writer:
        folder.root.mkdir(parents=True, exist_ok=True)
        if not resume:  # the anchor points go into the folder: the run reads them wherever it is moved
            folder.write_config(cfg)
        else:
            folder.keep_metrics_until(folder.last_checkpoint_step() or 0)
    for report, name in ((train_report, "training"), (valid_report, "validation")):
        if report.truncated_lines or report.dropped_lines:
            on_event(Event("warning", 0, {"message": say(f"log_data_warning_{name}", summary=report.summary())}))
    on_event(Event("info", 0, {"message": say("log_examples", train=len(train_set), valid=len(valid_set),
                                              summary=train_report.summary())}))
    chosen = precision.choose(cfg.precision)
    model = load_model(source)
    stage(on_event, "base_eval")
    baseline = measure_base(model, tokenizer, source, valid_set, cfg, chosen)
    if not math.isfinite(baseline.valid_loss):
        raise ModelError(f"the base model '{cfg.model or DEFAULT_MODEL}' gives a held-out loss of "
                         f"{baseline.valid_loss}: its weights are damaged")
    on_event(Event("info", 0, {"message": say("log_base_model", loss=f"{baseline.valid_loss:.4f}",
                                              general=_general_text(baseline))}))
    train_set = train_set + _replay(model, tokenizer, source, cfg, len(train_set), chosen)
    if cfg.kl_general:
        baseline.kl_rows = _replay_rows(model, tokenizer, source, chosen)
        on_event(Event("info", 0, {"message": say("log_kl", n=len(baseline.kl_rows), weight=cfg.kl_general)
                                   if baseline.kl_rows else say("log_kl_off")}))
    history = folder.read_metrics() if resume else []
    stage(on_event, "training")
    held = valid_points[:held_out.ANSWER_ROWS]
    later = held_out.after_training(len(held), preset.output.format, len(SCALES) + 1,
                                    sum(len(e["input_ids"]) for e in valid_set))
    result = fine_tune(model, tokenizer, train_set, valid_set, cfg, folder.checkpoints,
                       recorder(folder, on_event) if writer else ignore,
                       resume=resume, baseline=baseline, history=history, base_source=source,
                       after_training=later)
    if not writer:
        return {}
    bad, total = nonfinite_weights(result.model)
    if bad:
        raise RunError(f"training diverged: {bad:,} of {total:,} weights are NaN or infinite (learning rate "
                       f"{cfg.learning_rate:g}); nothing of it can be kept: lower --lr and train again")
    measured = (result.eval_seconds or 0.0) * (len(SCALES) + 1)
    stage(on_event, "final_eval", result.steps, measured if result.eval_seconds else None)
    tick = _ticker(on_event, result.steps, len(SCALES) + 1)
    candidates = result.candidates + _scale_sweep(result, baseline, valid_set, tokenizer, cfg, chosen, tick) \
        + _average(result, baseline, valid_set, tokenizer, cfg, chosen, folder.checkpoints, tick)
    picked, runners_up = balance.choose(balance.score(candidates, baseline.reference())) \
        if candidates else (None, [])
    if picked is not None and picked.averaged:
        averaging.load_average(result.model, folder.checkpoints, picked.averaged)
        on_event(Event("info", result.steps, {"message": say("log_kept_average",
                                                             steps=", ".join(map(str, picked.averaged)))}))
    tuned_loss = picked.valid_loss if picked is not None and picked.valid_loss is not None else \
        answer_loss(result.model, valid_set, tokenizer.pad_token_id, cfg.batch_size, chosen, engine=cfg.engine)
    metrics = folder.read_metrics()
    full = next((c for c in candidates if picked and c.step == picked.step and c.scale == 1.0), None)
    diagnosis = balance.diagnose([r for r in metrics if "train_loss" in r], [r for r in metrics if "valid_loss" in r],
                                 baseline.valid_loss, picked, full) if picked else None
    with _adapter_scale(result.model, picked.scale if picked else 1.0):
        stage(on_event, "answers", result.steps, later(result.eval_seconds, answers_only=True)
              if result.eval_seconds else None)
        answers = held_out.answers(result.model, tokenizer, source, preset, held, chosen, result.steps, on_event)
        tools, tool_verdict = held_out.tool_call_check(result.model, tokenizer, source, preset, held, answers, chosen,
                                                       diagnosis.to_json() if diagnosis else None) \
            if tool_run and held else (None, None)
        stage(on_event, "merging", result.steps)
        save_outputs(result.model, tokenizer, folder.root, scale=picked.scale if picked else 1.0)
    check, verdict = held_out.judge(preset, held, answers, train_points,
                                    diagnosis.to_json() if diagnosis else None) if held else (None, None)
    verdict = tool_verdict or verdict  # a tool-calling run is judged by its calls
    samples = [{"line": p.line, "prompt": p.prompt, "reference": p.answer, "base": b, "tuned": t}
               for p, b, t in zip(held[:SAMPLES], answers["base"], answers["tuned"])]
    summary = {
        "task": preset.name, "metric": preset.metric, "base_model": cfg.model or DEFAULT_MODEL,
        "data": {"file": Path(cfg.data).name, "examples": len(points), "train": len(train_set),
                 "valid": len(valid_set), "labels": dict(Counter(p.label for p in points if p.label).most_common()),
                 "encoding": {"train": train_report.to_json(), "valid": valid_report.to_json()},
                 "encoding_summary": train_report.summary()},
        "training": {"method": cfg.method, "precision": result.precision, "steps": result.steps,
                     "max_steps": result.max_steps, "best_step": picked.step if picked else None,
                     "averaged_steps": picked.averaged if picked else None,
                     "checkpoint": balance.checkpoint_words(picked.step, picked.averaged) if picked else None,
                     "adapter_scale": picked.scale if picked else 1.0,
                     "best_valid_loss": picked.valid_loss if picked else None, "stopped_early": result.stopped_early,
                     "train_seconds": result.train_seconds, "tokens_trained": result.tokens_trained,
                     "tokens_this_start": result.tokens_this_start, "tokens_per_s": result.tokens_per_second, "allocator": allocator_name(),
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
        "answers": check.to_json() if check else None,
        "tool_calls": tools,
        "verdict": (verdict if isinstance(verdict, dict) else verdict.to_json()) if verdict else None,
        "samples": samples,
    }
    quality_file = folder.root / "quality.json"
    if quality_file.is_file():
        stored = json.loads(quality_file.read_text(encoding="utf-8"))
        summary["quality"] = {k: stored[k] for k in ("verdict", "scores", "reasons", "advice", "counts")}
    summary["lineage"] = lineage.describe(folder.root, len(points), len(valid_points) if cfg.valid_data else None)
    folder.write_json(folder.summary, summary)
    _write_run_report(folder, summary, metrics)
    folder.write_text(folder.card, render(summary))
    if verdict or diagnosis:
        said = summary["verdict"] or diagnosis.to_json()
        on_event(Event("info", result.steps, {"message": say("log_verdict", verdict=said["verdict"],
                                                             reason=said["reason"])}))
    on_event(Event("done", result.steps, {"base_valid": baseline.valid_loss, "tuned_valid": tuned_loss}))
    return summary


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


def _held_out(points: list[AnchorPoint], cfg: RunConfig) -> tuple[list[AnchorPoint], list[AnchorPoint]]:
    """Training and validation points: the validation file when one is given, else a seeded split."""
    from anchortune.data.loading import CsvColumns, load_anchor_points
    from anchortune.data.split import split

    if cfg.valid_data:
        columns = CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter)
        return points, load_anchor_points(cfg.valid_data, columns)
    return split(points, cfg.val_fraction, cfg.seed)


def measure_base(model, tokenizer, source, valid_set: list[dict], cfg: RunConfig, chosen: str):
    """The base model's validation loss, its general ability (general text, cloze items; evaluate/general.py)
    and its loss on the general probe (its own answers: the answer style)."""
    from anchortune.data.tokenize import encode
    from anchortune.evaluate import balance, general
    from anchortune.engine.loss import answer_loss
    from anchortune.evaluate.probe import base_answers
    from anchortune.train.engine import Baseline

    probe, _ = encode(base_answers(model, tokenizer, "probe", source, chosen), load_preset("custom"), tokenizer, 256)
    pad, engine = tokenizer.pad_token_id, cfg.engine
    probe_loss = answer_loss(model, probe, pad, cfg.batch_size, chosen, engine=engine) if probe else None
    material = general.general_set(tokenizer)
    scores = general.measure(model, material, pad, cfg.batch_size, chosen, engine=engine)
    text, cloze = balance.informative(scores.get("text_loss"), scores.get("cloze_accuracy"), len(tokenizer))
    return Baseline(valid_loss=answer_loss(model, valid_set, pad, cfg.batch_size, chosen, engine=engine),
                    probe=probe, probe_loss=probe_loss, general=material, text_loss=text, cloze_accuracy=cloze,
                    measured=scores)


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


def _replay(model, tokenizer, source, cfg: RunConfig, n_train: int, chosen: str) -> list[dict]:
    """cfg.replay x n_train general samples (the base model's answers to the replay prompts), cycled."""
    count = round(cfg.replay * n_train)
    if count == 0:
        return []
    samples = _replay_rows(model, tokenizer, source, chosen)
    return [samples[i % len(samples)] for i in range(count)] if samples else []


def _replay_rows(model, tokenizer, source, chosen: str) -> list[dict]:
    """The base model's own answers to the replay prompts, encoded (replay samples, and the KL term's rows)."""
    from anchortune.data.tokenize import encode
    from anchortune.evaluate.probe import base_answers

    return encode(base_answers(model, tokenizer, "replay", source, chosen), load_preset("custom"), tokenizer, 256)[0]


SCALES = (0.25, 0.5, 0.75)


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


def _scale_sweep(result, baseline, valid_set: list[dict], tokenizer, cfg: RunConfig, chosen: str,
                 tick=lambda: None) -> list:
    """The chosen LoRA checkpoint at smaller adapter scales: free blends between base and tuned."""
    if not hasattr(result.model, "merge_and_unload") or result.chosen is None or not valid_set:
        return []
    candidates = []
    for scale in SCALES:
        with _adapter_scale(result.model, scale):
            candidates.append(_candidate(result.model, result.chosen.step, baseline, valid_set, tokenizer, cfg,
                                         chosen, scale=scale))
        tick()
    return candidates


def _average(result, baseline, valid_set: list[dict], tokenizer, cfg: RunConfig, chosen: str,
             checkpoints: Path, tick=lambda: None) -> list:
    """The average of the last checkpoints' adapters (train/averaging.py) as a candidate, measured as the
    checkpoints were; the model is handed back holding the checkpoint it held before."""
    from anchortune.train import averaging
    from anchortune.train.engine import load_adapter

    if not hasattr(result.model, "merge_and_unload") or result.chosen is None or not valid_set:
        return []
    steps = averaging.steps_to_average([c.step for c in result.candidates])
    if not steps or not all((checkpoints / f"checkpoint-{s}" / averaging.ADAPTER_FILE).is_file() for s in steps):
        return []
    averaging.load_average(result.model, checkpoints, steps)
    try:
        return [_candidate(result.model, steps[-1], baseline, valid_set, tokenizer, cfg, chosen, averaged=steps)]
    finally:
        load_adapter(result.model, checkpoints / f"checkpoint-{result.chosen.step}")
        tick()


def _candidate(model, step: int, baseline, valid_set: list[dict], tokenizer, cfg: RunConfig, chosen: str,
               scale: float = 1.0, averaged: list[int] | None = None):
    """A balance candidate of the model as it stands: validation loss, answer style and general measures."""
    from anchortune.evaluate import general
    from anchortune.evaluate.balance import Candidate
    from anchortune.engine.loss import answer_loss

    pad = tokenizer.pad_token_id
    valid = answer_loss(model, valid_set, pad, cfg.batch_size, chosen, engine=cfg.engine)
    probe = answer_loss(model, baseline.probe, pad, cfg.batch_size, chosen, engine=cfg.engine) \
        if baseline.probe else None
    scores = general.measure(model, baseline.general, pad, cfg.batch_size, chosen, engine=cfg.engine) \
        if baseline.general else {}
    return Candidate(step, valid, probe, scale=scale, text_loss=scores.get("text_loss"),
                     cloze_accuracy=scores.get("cloze_accuracy"), averaged=averaged)


def _adapter_scale(model, scale: float):
    """A context in which the LoRA adapter acts at `scale` (nothing for full models or scale 1)."""
    import contextlib

    if scale == 1.0 or not hasattr(model, "merge_and_unload"):
        return contextlib.nullcontext()
    from peft.helpers import rescale_adapter_scale

    return rescale_adapter_scale(model, scale)


def _write_run_report(folder: RunFolder, summary: dict, metrics: list[dict]) -> None:
    from anchortune.evaluate.report import render_html, render_markdown

    folder.write_text(folder.root / "report.html", render_html(summary, metrics))
    folder.write_text(folder.root / "report.md", render_markdown(summary))


def recorder(folder: RunFolder, on_event: EventSink) -> EventSink:
    """Pass events on and append train/eval rows to metrics.jsonl."""

    def record(event: Event) -> None:
        if event.kind in ("train", "eval"):
            folder.append_metric({"step": event.step, **event.data})
        on_event(event)

    return record
