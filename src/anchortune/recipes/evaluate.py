"""The evaluation of a finished run (`anchortune eval`): base against tuned on held-out anchor points with the
task's metric, beside the strongest trivial baseline (evaluate/baselines.py) and with the verdict those answers
support (evaluate/verdict.py), general retention (probe, general text, multiple-choice flips), and the best, worst
and typical example; and `compare_on`, base and tuned side by side on a few points. Every model is scored through a
run session (train/session.py), the door into the engine.
"""

from __future__ import annotations

from pathlib import Path

from anchortune.data.loading import CsvColumns, load_anchor_points
from anchortune.data.presets import Preset, load_preset
from anchortune.data.records import AnchorPoint
from anchortune.config import PREFERENCE_OBJECTIVES
from anchortune.errors import RunError
from anchortune.run_folder import RunFolder

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def evaluate_run(run: str | Path, data: str | Path | None = None, general_text: str | Path | None = None,
                 choices: str | Path | None = None, limit: int = 200, lang: str = "en") -> dict:
    """Base against tuned on held-out anchor points (default: the run's validation split). Every input is checked
    before any generation. Writes eval.json and eval.md (in `lang`) into the run. A preference run is evaluated on held-out
    pairs (evaluate/pair_evaluation.py); a tool-calling run's calls are measured as calls (evaluate/tool_calls.py)."""
    from anchortune.train.session import RunSession

    folder = RunFolder(run)
    if folder.is_run() and folder.load_config().objective in PREFERENCE_OBJECTIVES:
        from anchortune.evaluate.pair_evaluation import evaluate_pairs

        return evaluate_pairs(folder, data, general_text, limit, lang)
    cfg = _check_inputs(folder, data, general_text, choices, limit)
    with RunSession(cfg) as session:
        return _evaluate(session, folder, data, general_text, choices, limit, lang)


def _evaluate(session, folder: RunFolder, data, general_text, choices, limit: int, lang: str) -> dict:
    import json

    from anchortune.data import chat_templates
    from anchortune.data.split import split
    from anchortune.data.tokenize import encode
    from anchortune.evaluate import tool_calls
    from anchortune.evaluate import metrics as m
    from anchortune.evaluate import general, retention
    from anchortune.evaluate.generation import generate
    from anchortune.evaluate.probe import base_answers
    from anchortune.models.loading import load_tokenizer, load_tuned

    cfg = session.cfg
    all_points = load_anchor_points(cfg.data, CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter)) \
        if data is None else None
    points = load_anchor_points(data) if data is not None else split(all_points, cfg.val_fraction, cfg.seed)[1]
    points = points[:limit]
    preset = load_preset(cfg.task).resolved_for(all_points or points)
    chosen = session.precision
    kind = preset.output.format
    new_tokens = {"label": 16, "json": 160}.get(kind, 192)
    conversations = [preset.to_messages(p)[:-1] for p in points]
    references = [p.answer for p in points]
    base_source = session.source
    models = {"base": base_source, "tuned": folder.model}
    result: dict = {"examples": len(points), "task": preset.name, "metric": preset.metric, "source":
                    str(data) if data else "the run's validation split", "models": {}}
    outputs: dict[str, list[str]] = {}
    probe_points = None
    tools = [list(p.tools) or None for p in points]
    tool_answers: dict[str, list[str]] = {}
    general_answers: dict[str, list[str]] = {}
    for name, source in models.items():
        tokenizer = load_tokenizer(source if name == "base" else _tuned_tokenizer(folder))
        if name == "base":
            tokenizer = chat_templates.use(tokenizer, cfg.chat_template)
        model = session.load_model() if name == "base" else load_tuned(folder.root, base_source)
        outputs[name] = generate(model, tokenizer, conversations, max_new_tokens=new_tokens, precision=chosen,
                                 tools=tools)
        if any(tools):
            tool_answers[name] = tool_calls.held_out_answers(model, tokenizer, points, preset.frame, chosen)
            general_answers[name] = tool_calls.general_answers(model, tokenizer, points, preset.frame, chosen)
        scores = _task_scores(kind, outputs[name], references, preset, points)
        encoded, _ = encode(points, preset, tokenizer, cfg.max_length)
        scores["answer_loss"] = session.answer_loss(model, encoded, tokenizer.pad_token_id)
        if probe_points is None:
            probe_points = base_answers(model, tokenizer, "probe", base_source, chosen)
        probe, _ = encode(probe_points, load_preset("custom"), tokenizer, 256)
        scores["general_probe_loss"] = session.answer_loss(model, probe, tokenizer.pad_token_id)
        shipped = session.general(model, general.general_set(tokenizer), tokenizer.pad_token_id)
        scores.update({f"shipped_{k}": v for k, v in shipped.items()})
        if general_text:
            chunks = retention.text_chunks(Path(general_text), tokenizer)
            scores["general_text_loss"] = session.answer_loss(model, chunks, tokenizer.pad_token_id)
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
    result["retention"] = {key: tuned[key] / base[key] - 1 for key in ("shipped_text_loss", "general_text_loss",
                                                                       "general_probe_loss") if key in base and base[key]}
    if base.get("shipped_cloze_accuracy") is not None:
        result["retention"]["shipped_cloze_points"] = 100 * (tuned["shipped_cloze_accuracy"]
                                                             - base["shipped_cloze_accuracy"])
    per = [(m.per_example(kind, t, r, preset.output.labels, preset.output.fields)
            - m.per_example(kind, b, r, preset.output.labels, preset.output.fields), i)
           for i, (b, t, r) in enumerate(zip(outputs["base"], outputs["tuned"], references))]
    ranked = sorted(per)
    picks = {"best": ranked[-1], "worst": ranked[0], "typical": ranked[len(ranked) // 2]} if ranked else {}
    result["examples_side_by_side"] = {
        label: {"line": points[i].line, "prompt": points[i].prompt, "reference": references[i],
                "base": outputs["base"][i], "tuned": outputs["tuned"][i], "difference": diff}
        for label, (diff, i) in picks.items()}
    train_points = split(all_points or load_anchor_points(cfg.data), cfg.val_fraction, cfg.seed)[0]
    result["next_to_write"] = _next_to_write(kind, preset, points, outputs["tuned"], references, train_points)
    check, verdict = _verdict(kind, preset, points, outputs, train_points, folder)
    result["answers"], result["verdict"] = check.to_json(), verdict.to_json()
    if tool_answers:  # a tool-calling run: its calls, and the verdict they support
        result["tool_calls"] = tool_calls.compare(points, tool_answers, general_answers)
        for name in models:
            result["models"][name].update({k: v for k, v in result["tool_calls"][name].items()
                                           if isinstance(v, float)})
        summary = json.loads(folder.summary.read_text(encoding="utf-8")) if folder.summary.is_file() else {}
        result["verdict"] = tool_calls.decide(result["tool_calls"], (summary.get("balance") or {}).get("diagnosis"))
    folder.write_json(folder.root / "eval.json", result)
    from anchortune.evaluate.report import render_eval_markdown

    folder.write_text(folder.root / "eval.md", render_eval_markdown(result, lang))
    return result


def _verdict(kind: str, preset: Preset, points, outputs: dict, train, folder: RunFolder):
    """The answers against a trivial baseline and the verdict (evaluate/verdict.py), the run's loss-based diagnosis
    beneath where its summary has one."""
    import json

    from anchortune.evaluate import verdict
    from anchortune.quality.embeddings import load_embedder

    check = verdict.check_answers(kind, points, outputs["tuned"], outputs["base"], train, preset.output.labels,
                                  preset.output.fields, load_embedder().embed)
    summary = json.loads(folder.summary.read_text(encoding="utf-8")) if folder.summary.is_file() else {}
    return check, verdict.decide(check, (summary.get("balance") or {}).get("diagnosis"))


def _next_to_write(kind: str, preset: Preset, points, tuned: list[str], references: list[str], train) -> dict:
    """The closed loop (evaluate/coverage.py): failing held-out items, their nearest anchor points, what to write."""
    from anchortune.evaluate import coverage
    from anchortune.evaluate import metrics as m
    from anchortune.quality.embeddings import load_embedder

    scores = [m.per_example(kind, t, r, preset.output.labels, preset.output.fields) for t, r in zip(tuned, references)]
    return coverage.close_the_loop(kind, points, scores, train, load_embedder())


def _tuned_tokenizer(folder: RunFolder) -> Path | None:
    """Where the tuned model's tokenizer lies: model/ (merged), else adapter/ (runs save it beside the adapter)."""
    return next((where for where in (folder.model, folder.root / "adapter")
                 if any((where / name).is_file() for name in TOKENIZER_FILES)), None)


def _check_inputs(folder: RunFolder, data, general_text, choices, limit: int):
    """Every input of an evaluation, checked before the minutes of generation: the held-out data, the general text
    and the choices, then the whole run folder (config, merged model, adapter, tokenizer, its anchor points) and
    the base model; the run's config."""
    from anchortune.errors import ConfigError
    from anchortune.evaluate import retention
    from anchortune.models.loading import resolve_model

    if limit < 1:
        raise ConfigError(f"--limit must be a whole number >= 1, not {limit}")
    if data is not None:
        load_anchor_points(data)
    if general_text is not None:
        retention.general_text(Path(general_text))
    if choices is not None:
        retention.read_choices(Path(choices), limit)
    cfg = folder.check_finished()
    if _tuned_tokenizer(folder) is None:
        raise RunError(f"'{folder.root}' has no tokenizer for its tuned model in model/ or adapter/ "
                       "(did the run finish? `anchortune train --resume` completes it)")
    resolve_model(cfg.model)
    return cfg


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


def compare_on(run: str | Path, points: list[AnchorPoint], samples: int = 3) -> dict:
    """Base and tuned model of a run on held-out anchor points: answer loss and a few answers side by side."""
    from anchortune.data.tokenize import encode
    from anchortune.evaluate.generation import generate
    from anchortune.models.loading import load_tokenizer, load_tuned
    from anchortune.train.session import RunSession

    folder = RunFolder(run)
    with RunSession(folder.load_config()) as session:
        cfg = session.cfg
        preset = load_preset(cfg.task).resolved_for(points)
        chosen = session.precision
        result: dict = {"examples": len(points), "precision": chosen}
        conversations = [preset.to_messages(p)[:-1] for p in points[:samples]]
        base_source = session.source
        for name, source in (("base", base_source), ("tuned", folder.model)):
            tokenizer = load_tokenizer(source)
            model = session.load_model() if name == "base" else load_tuned(folder.root, base_source)
            examples, report = encode(points, preset, tokenizer, cfg.max_length)
            result[f"{name}_loss"] = session.answer_loss(model, examples, tokenizer.pad_token_id)
            result[f"{name}_answers"] = generate(model, tokenizer, conversations, precision=chosen)
            result["encoding"] = report.to_json()
    result["samples"] = [{"line": p.line, "prompt": p.prompt, "reference": p.answer, "base": b, "tuned": t}
                         for p, b, t in zip(points, result.pop("base_answers"), result.pop("tuned_answers"))]
    return result
