"""Domain adaptation: continued pretraining on a team's raw documents, with the balance guard watching general
ability, into a run folder whose model `anchortune train --model RUN` starts from.

The documents are read, cleaned, deduplicated and filtered (data/documents.py); whole documents are held out, and
their loss (nats per token; perplexity is its exponential) is the validation loss the guard's gain is measured
on, while general text and cloze items measure what the model keeps (evaluate/balance.py), exactly as in a task
run. LoRA (the default) or full fine-tuning, every token a target, a low learning rate (ADAPT_LR: continued
pretraining moves weights the base model was trained into; the task presets' rates are for a new answer format).
The run folder holds what a task run holds (config.yaml, metrics.jsonl, checkpoints/, adapter/, model/,
summary.json, README.md) plus `documents.json`, which documents trained and which were held out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from anchortune.config import RunConfig
from anchortune.errors import RunError
from anchortune.run_folder import RunFolder
from anchortune.train.events import Event, EventSink, ignore
from anchortune.train.session import RunSession

ADAPT_LR = 1e-4
WINDOW = 256
MAX_HELD_WINDOWS = 64  # held-out windows scored at every evaluation (the rest of the held-out text is unused)


def adapt_run(documents: list[str | Path], out: str | Path, model: str | None = None, method: str = "lora",
              epochs: float = 1.0, learning_rate: float | None = None, window: int = WINDOW, seed: int = 42,
              on_event: EventSink = ignore, lang: str = "en") -> dict:
    """Continued pretraining on `documents` into `out`; the run's summary (its model card in `lang`). A run that fails for a reason, or is
    stopped before its first checkpoint, leaves nothing (the run session's folder life, train/session.py)."""
    from anchortune.data.documents import read_corpus, split_documents, windows
    from anchortune.data.presets import load_preset
    from anchortune.evaluate import balance
    from anchortune.export.merge import save_outputs

    cfg = RunConfig.build(data=str(Path(documents[0])) if documents else "", task="custom", model=model,
                          method=method, epochs=epochs, learning_rate=learning_rate or ADAPT_LR, max_length=window,
                          seed=seed, language=lang)
    with RunSession(cfg, out, on_event, resumable=False) as session:
        corpus = read_corpus(list(documents))
        on_event(Event("info", 0, {"message": f"documents: {corpus.summary()}"}))
        cfg = session.resolve(load_preset("custom"))
        train_texts, held_texts = split_documents(corpus, seed)
        if not held_texts:
            raise RunError("domain adaptation needs at least two documents: one is held out to measure the domain "
                           "perplexity on text the model never saw")
        train_set = windows(train_texts, session.tokenizer, window)
        held_set = windows(held_texts, session.tokenizer, window)[:MAX_HELD_WINDOWS]
        if not train_set or not held_set:
            raise RunError(f"too little text for windows of {window} tokens: {len(train_set)} to train on, "
                           f"{len(held_set)} held out")
        folder = session.folder
        folder.root.mkdir(parents=True, exist_ok=True)
        folder.write_text(folder.config, cfg.dump())
        names = sorted(corpus.documents)
        held_names = [n for n in names if corpus.documents[n] in held_texts]
        folder.write_json(folder.root / "documents.json", {"trained": [n for n in names if n not in held_names],
                                                          "held_out": held_names, "empty": corpus.empty,
                                                          "cleaning": corpus.summary()})
        base = session.load_model()
        baseline = session.baseline(base, held_set)
        on_event(Event("info", 0, {"message": f"{len(train_set)} training and {len(held_set)} held-out windows of "
                                              f"{window} tokens; base model: held-out domain loss "
                                              f"{baseline.valid_loss:.4f} (perplexity "
                                              f"{math.exp(baseline.valid_loss):.1f})"}))
        result = session.fine_tune(base, train_set, held_set, baseline=baseline)
        picked = result.chosen
        save_outputs(result.model, session.tokenizer, folder.root)
        metrics = folder.read_metrics()
        diagnosis = balance.diagnose([r for r in metrics if "train_loss" in r],
                                     [r for r in metrics if "valid_loss" in r], baseline.valid_loss, picked, picked) \
            if picked else None
        tuned = picked.valid_loss if picked else baseline.valid_loss
        summary = {
            "kind": "domain adaptation", "base_model": cfg.model, "documents": len(corpus.documents),
            "held_out_documents": len(held_names), "cleaning": corpus.summary(),
            "windows": {"train": len(train_set), "held_out": len(held_set), "tokens": window},
            "domain": {"base_loss": baseline.valid_loss, "tuned_loss": tuned,
                       "base_perplexity": math.exp(baseline.valid_loss), "tuned_perplexity": math.exp(tuned)},
            "general": {"base_text": baseline.measured.get("text_loss"),
                        "tuned_text": picked.text_loss if picked else None,
                        "base_cloze": baseline.measured.get("cloze_accuracy"),
                        "tuned_cloze": picked.cloze_accuracy if picked else None},
            "training": {"method": cfg.method, "precision": result.precision, "steps": result.steps,
                         "best_step": picked.step if picked else None, "train_seconds": result.train_seconds,
                         "tokens_trained": result.tokens_trained},
            "balance": {"chosen": picked.to_json() if picked else None,
                        "candidates": [c.to_json() for c in result.candidates],
                        "diagnosis": diagnosis.to_json() if diagnosis else None},
        }
        session.finish(summary, _card(summary, cfg.language))
    on_event(Event("done", result.steps, {"base_valid": baseline.valid_loss, "tuned_valid": tuned}))
    return summary


def _card(summary: dict, lang: str = "en") -> str:
    """The adapted model's card in `lang`."""
    from anchortune.messages import format_number, say_in, translate

    d, g = summary["domain"], summary["general"]
    verdict = translate((summary["balance"]["diagnosis"] or {}).get("verdict", "not diagnosed"), lang)
    general = (say_in("adapt_card_general", lang, before=format_number(g["base_text"], lang, 3),
                      after=format_number(g["tuned_text"], lang, 3))
               if g.get("base_text") is not None and g.get("tuned_text") is not None else
               say_in("adapt_card_no_general", lang))
    return "\n".join([
        "# " + say_in("adapt_card_title", lang, model=summary["base_model"] or say_in("adapt_card_default", lang)),
        "", say_in("adapt_card_documents", lang, n=summary["documents"], text=summary["cleaning"],
                   k=summary["held_out_documents"]), "",
        "- " + say_in("adapt_card_perplexity", lang, before=format_number(d["base_perplexity"], lang, 2),
                      after=format_number(d["tuned_perplexity"], lang, 2)),
        f"- {general}",
        "- " + say_in("adapt_card_verdict", lang, verdict=verdict), "",
        say_in("adapt_card_start", lang), ""])


def read_summary(run: str | Path) -> dict:
    return json.loads(RunFolder(run).summary.read_text(encoding="utf-8"))
