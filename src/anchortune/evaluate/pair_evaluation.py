"""`anchortune eval` of a preference run: base against tuned on held-out preference pairs (default: the run's own
held-out pairs), with the measures of evaluate/preference.py, the verdict they support beside the run's balance
diagnosis, and general retention (the shipped general text and cloze items, and `--general-text`), in eval.json and
eval.md as a supervised run's evaluation writes them.
"""

from __future__ import annotations

import json
from pathlib import Path

from anchortune.run_folder import RunFolder


def evaluate_pairs(folder: RunFolder, data: str | Path | None = None, general_text: str | Path | None = None,
                   limit: int = 200, lang: str = "en") -> dict:
    from anchortune.data import chat_templates
    from anchortune.data.pair_tokens import render, split_pairs
    from anchortune.data.pairs import load_pairs
    from anchortune.data.presets import load_preset
    from anchortune.engine import precision
    from anchortune.engine.loss import answer_loss
    from anchortune.errors import ConfigError
    from anchortune.evaluate import general, preference, retention
    from anchortune.evaluate.report import render_eval_markdown
    from anchortune.models.loading import load_model, load_tokenizer, load_tuned, resolve_model

    if limit < 1:
        raise ConfigError(f"--limit must be a whole number >= 1, not {limit}")
    pairs = load_pairs(data) if data is not None else None
    if general_text is not None:
        retention.general_text(Path(general_text))
    cfg = folder.check_finished()
    base_source = resolve_model(cfg.model)
    if pairs is None:
        given = load_pairs(cfg.valid_data) if cfg.valid_data else None
        pairs = given if given is not None else split_pairs(load_pairs(cfg.data), cfg.val_fraction, cfg.seed)[1]
    preset = load_preset(cfg.task)
    tokenizer = chat_templates.use(load_tokenizer(base_source), cfg.chat_template)
    rendered, report = render(pairs[:limit], preset, tokenizer, cfg.max_length)
    chosen = precision.choose(cfg.precision)
    pad = tokenizer.pad_token_id
    scores, models = {}, {}
    for name in ("base", "tuned"):
        model = load_model(base_source) if name == "base" else load_tuned(folder.root, base_source)
        scores[name] = preference.log_likelihoods(model, rendered, pad, chosen)
        shipped = general.measure(model, general.general_set(tokenizer), pad, cfg.batch_size, chosen)
        models[name] = {f"shipped_{k}": v for k, v in shipped.items()}
        if general_text:
            chunks = retention.text_chunks(Path(general_text), tokenizer)
            models[name]["general_text_loss"] = answer_loss(model, chunks, pad, cfg.batch_size, chosen)
        del model
    comparison = preference.compare(scores["base"], scores["tuned"], cfg.beta)
    models["base"]["preference_accuracy"] = comparison["base"]["preference_accuracy"]
    models["tuned"]["preference_accuracy"] = comparison["tuned"]["preference_accuracy"]
    summary = json.loads(folder.summary.read_text(encoding="utf-8")) if folder.summary.is_file() else {}
    base, tuned = models["base"], models["tuned"]
    result = {"examples": len(rendered), "task": preset.name, "objective": cfg.objective,
              "metric": "preference accuracy", "source": str(data) if data else "the run's held-out pairs",
              "encoding": report.to_json(), "models": models, "preference": comparison,
              "retention": {k: tuned[k] / base[k] - 1 for k in ("shipped_text_loss", "general_text_loss")
                            if base.get(k)},
              "verdict": preference.decide(comparison, (summary.get("balance") or {}).get("diagnosis"))}
    if base.get("shipped_cloze_accuracy") is not None:
        result["retention"]["shipped_cloze_points"] = 100 * (tuned["shipped_cloze_accuracy"]
                                                             - base["shipped_cloze_accuracy"])
    folder.write_json(folder.root / "eval.json", result)
    folder.write_text(folder.root / "eval.md", render_eval_markdown(result, lang))
    return result
