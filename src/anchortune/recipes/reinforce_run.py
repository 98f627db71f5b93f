"""The reinforcement run (`anchortune train --objective reinforcement [--grader FILE.json]`, a studio job with
`method: reinforcement`): anchor points whose answers are the graders' references, tuned by GRPO into a run folder
over one run session (train/session.py), as the task run (recipes/task_run.py) tunes them by demonstration.

Every input is read first and the grader parsed (the run's own, or the task preset's default); the anchor points'
gate (recipes/check.py) judges them unless a job's validation hands over its report, and a poor verdict stops the run
unless forced; the preflight (train/preflight.py) counts the sampled answers. Then: split, frame the prompts with the
preset (a prompt that leaves no room for an answer is left out, said), measure the base model's general ability and
its held-out reward and task metric (greedy answers, graded), train with TRL's GRPO (train/reinforce.py), keep the
checkpoint with the best balance of held-out reward and retention, measure the tuned model the same way, judge in
the supervised run's verdict words with the reward-hacking signs (evaluate/reinforcement.py), export adapter and
merged model, write summary, report and model card. Start from a supervised run with `--model RUN_FOLDER`. A grader
that fails fails the run, and a run that fails for a reason leaves nothing (the session's).
"""

from __future__ import annotations

import json
from pathlib import Path

from anchortune.config import RunConfig
from anchortune.data.loading import CsvColumns, load_anchor_points
from anchortune.data.presets import Preset, load_preset
from anchortune.data.split import MIN_EXAMPLES
from anchortune.errors import DataError, Problem, RunError
from anchortune.messages import say
from anchortune.recipes.preference_run import trl_losses, trl_training
from anchortune.recipes.task_run import RunOutcome, _gate, conclude, stage
from anchortune.train.events import Event, EventSink, ignore
from anchortune.train.session import RunSession

HELD_ROWS = 64  # held-out prompts the base and the tuned model answer for the verdict, at most


def train_reinforcement(cfg: RunConfig, out: str | Path, resume: bool = False, on_event: EventSink = ignore,
                        force: bool = False, quality: dict | None = None) -> RunOutcome:
    """Tune anchor points by reinforcement into `out` (see the module docstring). With resume, the config stored in
    `out` is used and training continues from its last checkpoint."""
    from anchortune.quality.report import QualityReport
    from anchortune.recipes.task_run import _store_quality
    from anchortune.train import distributed, preflight
    from anchortune.train.reinforce import refuse_unsupported

    with RunSession(cfg, out, on_event, resume=resume) as session:
        refuse_unsupported(session.cfg)
        columns = CsvColumns(session.cfg.input_col, session.cfg.output_col, session.cfg.label_col,
                             session.cfg.delimiter)
        points = load_anchor_points(session.cfg.data, columns)
        valid = load_anchor_points(session.cfg.valid_data, columns) if session.cfg.valid_data else None
        if valid is None and len(points) < MIN_EXAMPLES:
            raise DataError([Problem(session.cfg.data, 0, None, say("x_reinforce_run_too_few_points",
                                                                       n=len(points), needed=MIN_EXAMPLES))])
        preset = load_preset(session.cfg.task).resolved_for(points)
        cfg = session.resolve(preset)
        grader = grader_of(cfg, preset)
        preflight.refuse_unfit(cfg, distributed.Launch(1, 1), on_event)
        if not resume:
            report = QualityReport.from_json(quality) if quality is not None else _gate(cfg, points, on_event, force)
            _store_quality(session.folder, report, points, cfg.data, cfg.language)
        return RunOutcome(session.folder.root, _train(session, preset, grader, points, valid))


def grader_of(cfg: RunConfig, preset: Preset):
    """The run's grader (evaluate/graders.py): its own, or the task preset's default with the preset's labels or
    JSON fields where the grader names none."""
    from anchortune.evaluate import graders

    if cfg.grader is not None:
        return graders.parse(cfg.grader, "grader")
    spec = dict(preset.grader)
    if spec["type"] == "json_fields" and not spec.get("fields"):
        spec["fields"] = list(preset.output.fields)
    if spec["type"] == "label" and not spec.get("labels"):
        spec["labels"] = list(preset.output.labels)
    return graders.parse(spec, f"the {preset.name} preset's grader")


def rows_of(points, preset: Preset) -> list[dict]:
    """GRPO's rows: the prompt (the conversation up to the last answer, framed by the preset) and the grader's item
    as JSON text: the row's own fields as the file gave them (OpenAI's reinforcement data: what a grader reads as
    `{{item.field}}`), reference_answer (the last answer where the file names none), prompt, label where there, and
    the row's line."""
    rows = []
    for point in points:
        framed = preset.to_messages(point)
        last = max(i for i, m in enumerate(framed) if m["role"] == "assistant")
        item = {"reference_answer": point.answer, "prompt": point.prompt, **point.extra, "line": point.line}
        if point.label is not None:
            item["label"] = point.label
        rows.append({"prompt": framed[:last], "item": json.dumps(item, ensure_ascii=False)})
    return rows


def _fitting(rows: list[dict], tokenizer, cfg: RunConfig, on_event: EventSink) -> list[dict]:
    """The rows whose prompt leaves room for a max_answer_tokens answer within max_length (the others said)."""
    room = cfg.max_length - cfg.max_answer_tokens
    kept = [r for r in rows if room > 0 and len(tokenizer(tokenizer.apply_chat_template(
        r["prompt"], tokenize=False, add_generation_prompt=True), add_special_tokens=False).input_ids) <= room]
    if len(kept) < len(rows):
        on_event(Event("warning", 0, {"message": say("log_rl_long_prompts", n=len(rows) - len(kept),
                                                     tokens=cfg.max_answer_tokens, length=cfg.max_length)}))
    return kept


def _train(session: RunSession, preset: Preset, grader, points, valid) -> dict:
    from anchortune.data.split import split
    from anchortune.evaluate import reinforcement as measure
    from anchortune.export.merge import save_outputs
    from anchortune.train.engine import nonfinite_weights
    from anchortune.train.preference import general_baseline
    from anchortune.train.reinforce import EVAL_ROWS, reinforce_tune

    cfg, folder, resume, on_event = session.cfg, session.folder, session.resume, session.on_event
    tokenizer = session.tokenizer
    train_points, held_points = (points, valid) if valid is not None else split(points, cfg.val_fraction, cfg.seed)
    train = _fitting(rows_of(train_points, preset), tokenizer, cfg, on_event)
    held = _fitting(rows_of(held_points, preset), tokenizer, cfg, on_event)[:HELD_ROWS]
    if not train or not held:
        raise RunError(f"no {'training' if not train else 'held-out'} prompt leaves room for a "
                       f"{cfg.max_answer_tokens}-token answer within {cfg.max_length} tokens; raise --max-length or "
                       "lower --max-answer-tokens")
    folder.root.mkdir(parents=True, exist_ok=True)
    if resume:
        folder.keep_metrics_until(folder.last_checkpoint_step() or 0)
    else:
        folder.write_config(cfg)
    chosen = session.precision
    model = session.load_model()
    stage(on_event, "base_eval")
    baseline = general_baseline(model, tokenizer, cfg, chosen)
    base = _measure(model, tokenizer, grader, held, preset, cfg, chosen)
    during = base["rewards"][:EVAL_ROWS]  # the prompts the training's evaluations answer (train/reinforce.py)
    baseline.valid_loss = 1.0 - sum(during) / len(during)
    on_event(Event("info", 0, {"message": say("log_rl_grader", name=grader.name, kind=grader.type,
                                              reward=f"{base['reward']:.3f}", n=len(held))}))
    if len(set(base["rewards"])) == 1:
        on_event(Event("warning", 0, {"message": say("log_rl_flat", reward=f"{base['reward']:.3f}")}))
    stage(on_event, "training")
    result = reinforce_tune(model, tokenizer, grader, train, held, cfg, folder.checkpoints, session.recorder(),
                            baseline, resume=resume, history=folder.read_metrics() if resume else [])
    bad, total = nonfinite_weights(result.model)
    if bad:
        raise RunError(f"training diverged: {bad:,} of {total:,} weights are NaN or infinite (learning rate "
                       f"{cfg.learning_rate:g}); nothing of it can be kept: lower --lr and train again")
    stage(on_event, "final_eval", result.steps)
    tuned = _measure(result.model, tokenizer, grader, held, preset, cfg, chosen)
    comparison = measure.compare(base, tuned, cfg.seed)
    picked = result.chosen
    verdict = measure.decide(comparison, picked.forgot() if picked else None)
    stage(on_event, "merging", result.steps)
    save_outputs(result.model, tokenizer, folder.root)
    metrics = folder.read_metrics()
    kl = [r["kl"] for r in metrics if r.get("kl") is not None and r["step"] <= (picked.step if picked else 0)]
    comparison["kl_to_base"] = kl[-1] if kl else None  # TRL's per-token KL of the policy to the base, last logged
    summary = _summary(cfg, preset, grader, points, train, held, result, baseline, comparison, verdict, base, tuned)
    return conclude(session, summary, metrics, verdict, result.steps, baseline.valid_loss,
                    picked.valid_loss if picked else None)


def _measure(model, tokenizer, grader, held: list[dict], preset: Preset, cfg: RunConfig, precision: str) -> dict:
    """Greedy answers to the held-out prompts, their rewards and the preset's task metric."""
    from anchortune.evaluate.reinforcement import task_metric
    from anchortune.train.reinforce import held_out_reward

    measured = held_out_reward(model, tokenizer, grader, held, cfg, precision)
    references = [json.loads(r["item"])["reference_answer"] for r in held]
    measured["metric"] = task_metric(preset.output.format, measured["answers"], references,
                                     list(preset.output.labels), list(preset.output.fields))
    return measured


def _summary(cfg: RunConfig, preset: Preset, grader, points, train, held, result, baseline, comparison: dict,
             verdict: dict, base: dict, tuned: dict) -> dict:
    """summary.json of a reinforcement run: the keys a supervised run's summary has (cards and pages read them), the
    objective, the grader and the held-out reward measures."""
    from anchortune.models.catalog import DEFAULT_MODEL

    picked = result.chosen
    items = [json.loads(r["item"]) for r in held[:3]]
    samples = [{"line": i["line"], "prompt": i["prompt"], "reference": i["reference_answer"], "base": b, "tuned": t,
                "reward_base": rb, "reward_tuned": rt}
               for i, b, t, rb, rt in zip(items, base["answers"], tuned["answers"], base["rewards"], tuned["rewards"])]
    return {
        "task": preset.name, "metric": preset.metric, "objective": cfg.objective,
        "base_model": cfg.model or DEFAULT_MODEL,
        "data": {"file": Path(cfg.data).name, "examples": len(points), "train": len(train), "valid": len(held),
                 "labels": {}, "encoding": {}, "encoding_summary": ""},
        "training": {**trl_training(cfg, result, picked), "learning_rate": cfg.learning_rate, "epochs": cfg.epochs,
                     "batch_size": cfg.batch_size, "num_generations": cfg.num_generations,
                     "max_answer_tokens": cfg.max_answer_tokens},
        "grader": grader.to_json(),
        "losses": trl_losses(baseline, picked),
        "balance": {"chosen": picked.to_json() if picked else None, "runners_up": [],
                    "candidates": [c.to_json() for c in result.candidates], "diagnosis": None},
        "reinforcement": comparison,
        "verdict": verdict,
        "samples": samples,
    }
