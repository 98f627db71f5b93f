"""The preference run (`anchortune train --objective dpo|orpo`, a studio job with `method: dpo`): preference pairs
tuned into a run folder the way the task run (recipes/task_run.py) tunes anchor points, over one run session
(train/session.py: the resolved config, model source, tokenizer with its chat template and precision, the run
folder's life, the last writes).

Every input is read first; the pairs' gate (quality/pairs.py, through recipes/check.py) judges them unless a job's
validation hands over its report, and a poor verdict stops the run unless forced. Then: split the pairs (a prompt's
pairs kept together), render them with the model's chat template (data/pair_tokens.py, what the context cuts said),
measure the base model's general ability and its held-out preferences, train with TRL (train/preference.py),
choose the checkpoint by balance, measure the tuned model's held-out preferences (evaluate/preference.py), diagnose
in the balance guard's words, export adapter and merged model, write summary, report and model card. A run that
fails for a reason leaves nothing; one stopped after a checkpoint keeps it for --resume (the session's). The
preference losses train and score on the standard engine only (train/preference.py: no fast part has a parity test
under them), so this recipe enters none of the engine's fast parts.
"""

from __future__ import annotations

from pathlib import Path

from anchortune.config import RunConfig
from anchortune.data.presets import load_preset
from anchortune.data.split import MIN_EXAMPLES
from anchortune.errors import DataError, Problem, QualityError, RunError
from anchortune.messages import say
from anchortune.recipes.task_run import RunOutcome, conclude, stage
from anchortune.train.events import Event, EventSink, ignore
from anchortune.train.session import RunSession


def train_preference(cfg: RunConfig, out: str | Path, resume: bool = False, on_event: EventSink = ignore,
                     force: bool = False, quality: dict | None = None) -> RunOutcome:
    """Tune preference pairs into `out` (see the module docstring). With resume, the config stored in `out` is used
    and training continues from its last checkpoint."""
    from anchortune.data.pairs import load_pairs
    from anchortune.quality.report import QualityReport
    from anchortune.recipes.check import write_quality_outputs
    from anchortune.train.preference import refuse_unsupported

    with RunSession(cfg, out, on_event, resume=resume) as session:
        refuse_unsupported(session.cfg)
        preset = load_preset(session.cfg.task)
        pairs = load_pairs(session.cfg.data)
        valid = load_pairs(session.cfg.valid_data) if session.cfg.valid_data else None
        if valid is None and len(pairs) < MIN_EXAMPLES:
            raise DataError([Problem(session.cfg.data, 0, None, say("e_too_few_pairs", n=len(pairs),
                                                                    least=MIN_EXAMPLES))])
        cfg = session.resolve(preset)
        if not resume:
            report = QualityReport.from_json(quality) if quality is not None else _gate(cfg, pairs, on_event, force)
            folder = session.folder
            folder.root.mkdir(parents=True, exist_ok=True)
            write_quality_outputs(report, [p.side("chosen") for p in pairs], Path(cfg.data).name,
                                  json_out=folder.root / "quality.json", html_out=folder.root / "quality.html",
                                  lang=cfg.language)
        return RunOutcome(session.folder.root, _train(session, preset, pairs, valid))


def _gate(cfg: RunConfig, pairs, on_event: EventSink, force: bool):
    from anchortune.recipes.check import check_pair_data

    report = check_pair_data(cfg.data, cfg.task, cfg.model, pairs, cfg.max_length)
    on_event(Event("info", 0, {"message": say("log_pair_quality_short", summary=report.summary())}))
    if report.verdict == "poor":
        if not force:
            raise QualityError(report.reasons, report.advice)
        on_event(Event("warning", 0, {"message": say("log_quality_forced")}))
    return report


def _train(session: RunSession, preset, pairs, valid) -> dict:
    from anchortune.data import chat_templates
    from anchortune.data.pair_tokens import render, split_pairs
    from anchortune.evaluate import balance
    from anchortune.evaluate import preference as measure
    from anchortune.export.merge import save_outputs
    from anchortune.models.catalog import DEFAULT_MODEL
    from anchortune.train.engine import nonfinite_weights
    from anchortune.train.preference import general_baseline, preference_tune

    cfg, folder, resume, on_event = session.cfg, session.folder, session.resume, session.on_event
    tokenizer = session.tokenizer  # with the config's chat template
    if any(p.tools for p in pairs):
        chat_templates.refuse_unrenderable(tokenizer, cfg.model or DEFAULT_MODEL)
    train_pairs, valid_pairs = (pairs, valid) if valid is not None else split_pairs(pairs, cfg.val_fraction, cfg.seed)
    train, train_report, held, valid_report = session.encode_parts(render, preset, train_pairs, valid_pairs, "pairs")
    folder.root.mkdir(parents=True, exist_ok=True)
    if resume:
        folder.keep_metrics_until(folder.last_checkpoint_step() or 0)
    else:
        folder.write_config(cfg)
    for report, name in ((train_report, "training"), (valid_report, "validation")):
        if report.truncated_lines or report.dropped_lines:
            on_event(Event("warning", 0, {"message": say(f"log_data_warning_{name}", summary=report.summary())}))
    chosen = session.precision
    model = session.load_model()
    stage(on_event, "base_eval")
    baseline = general_baseline(model, tokenizer, cfg, chosen)
    base_scores = measure.log_likelihoods(model, held, tokenizer.pad_token_id, chosen)
    stage(on_event, "training")
    result = preference_tune(model, tokenizer, [r.text_row() for r in train], [r.text_row() for r in held], cfg,
                             folder.checkpoints, session.recorder(), baseline, resume=resume,
                             history=folder.read_metrics() if resume else [])
    bad, total = nonfinite_weights(result.model)
    if bad:
        raise RunError(f"training diverged: {bad:,} of {total:,} weights are NaN or infinite (learning rate "
                       f"{cfg.learning_rate:g}); nothing of it can be kept: lower --lr and train again")
    stage(on_event, "final_eval", result.steps)
    comparison = measure.compare(base_scores, measure.log_likelihoods(result.model, held, tokenizer.pad_token_id,
                                                                      chosen), cfg.beta)
    metrics = folder.read_metrics()
    picked = result.chosen
    diagnosis = balance.diagnose([r for r in metrics if "train_loss" in r], [r for r in metrics if "valid_loss" in r],
                                 baseline.valid_loss, picked) if picked else None
    verdict = measure.decide(comparison, diagnosis.to_json() if diagnosis else None)
    stage(on_event, "merging", result.steps)
    save_outputs(result.model, tokenizer, folder.root)
    summary = _summary(cfg, preset, pairs, train, held, train_report, result, baseline, picked, diagnosis,
                       comparison, verdict)
    return conclude(session, summary, metrics, verdict, result.steps, baseline.valid_loss,
                    picked.valid_loss if picked else None)


def _summary(cfg: RunConfig, preset, pairs, train, held, train_report, result, baseline, picked, diagnosis,
             comparison: dict, verdict: dict) -> dict:
    """summary.json of a preference run: the keys a supervised run's summary has (cards and pages read them), the
    objective, and the held-out preference measures."""
    from anchortune.models.catalog import DEFAULT_MODEL

    return {
        "task": preset.name, "metric": "preference accuracy", "objective": cfg.objective,
        "base_model": cfg.model or DEFAULT_MODEL,
        "data": {"file": Path(cfg.data).name, "examples": len(pairs), "train": len(train), "valid": len(held),
                 "labels": {}, "encoding": {"train": train_report.to_json()},
                 "encoding_summary": train_report.summary()},
        "training": trl_training(cfg, result, picked), "losses": trl_losses(baseline, picked),
        "balance": {"chosen": picked.to_json() if picked else None, "runners_up": [],
                    "candidates": [c.to_json() for c in result.candidates],
                    "diagnosis": diagnosis.to_json() if diagnosis else None},
        "preference": comparison,
        "verdict": verdict,
        "samples": [],
    }


def trl_training(cfg: RunConfig, result, picked) -> dict:
    """The summary's `training` of a run a TRL trainer trained (DPO, ORPO; GRPO: recipes/reinforce_run.py), with the
    keys a supervised run's summary has (cards and pages read them)."""
    from anchortune.recipes.task_run import allocator_name

    return {"method": cfg.method, "objective": cfg.objective, "beta": cfg.beta, "reference": result.reference,
            "precision": result.precision, "steps": result.steps, "max_steps": result.max_steps,
            "best_step": picked.step if picked else None, "averaged_steps": None,
            "checkpoint": say("step_words", step=picked.step) if picked else None, "adapter_scale": 1.0,
            "best_valid_loss": picked.valid_loss if picked else None, "stopped_early": result.stopped_early,
            "train_seconds": result.train_seconds, "tokens_trained": result.tokens_trained,
            "tokens_this_start": result.tokens_this_start, "tokens_per_s": result.tokens_per_second,
            "allocator": allocator_name(), "engine": result.engine.to_json() if result.engine else None,
            "parallel": result.parallel}


def trl_losses(baseline, picked) -> dict:
    """The summary's `losses` of a TRL-trained run: held-out loss and the general measures, base against kept."""
    return {"base_valid": baseline.valid_loss, "tuned_valid": picked.valid_loss if picked else None,
            "base_text": baseline.measured.get("text_loss"), "tuned_text": picked.text_loss if picked else None,
            "base_cloze": baseline.measured.get("cloze_accuracy"),
            "tuned_cloze": picked.cloze_accuracy if picked else None,
            "general_measures_used": [k for k, v in (("text", baseline.text_loss),
                                                     ("cloze", baseline.cloze_accuracy)) if v is not None]}
