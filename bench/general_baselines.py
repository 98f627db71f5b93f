"""Which base models the shipped general measures can judge: each catalog model, and the same architecture with
random weights, on the shipped general text and cloze items, beside WikiText-2 (an outside text).

    python bench/general_baselines.py [--models smollm2-135m-instruct,gemma-3-270m] [--out bench/results]

A measure tells forgetting apart only where the base model passes it: cloze accuracy well above chance (0.5) and
general-text loss well under a uniform guess (ln of the vocabulary). evaluate/balance.py leaves a measure out below
CLOZE_INFORMATIVE / above TEXT_INFORMATIVE; this bench records where the catalog's models stand against those
lines, and that a model that knows no language (random weights) falls on the other side of both.
Writes bench/results/general_baselines.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from anchortune import settings
from anchortune.app import models as app_models
from anchortune.evaluate import balance, general


def measure_model(name: str, random_weights: bool, wikitext: Path | None) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from anchortune.engine.loss import answer_loss
    from anchortune.evaluate.retention import text_chunks
    from anchortune.models.loading import load_model, load_tokenizer
    from anchortune.engine.precision import choose

    source = app_models.prepare_model(name)
    tokenizer = load_tokenizer(source)
    if random_weights:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(load_model(source).config)
    else:
        model = load_model(source)
    model.eval()
    precision = choose("auto")
    scores = general.measure(model, general.general_set(tokenizer), tokenizer.pad_token_id, 8, precision)
    vocabulary = model.config.vocab_size
    text, cloze = balance.informative(scores.get("text_loss"), scores.get("cloze_accuracy"), vocabulary)
    row = {"model": name, "weights": "random" if random_weights else "pretrained", **scores,
           "uniform_loss": math.log(vocabulary), "text_used": text is not None, "cloze_used": cloze is not None}
    if wikitext is not None:
        row["wikitext_loss"] = answer_loss(model, text_chunks(wikitext, tokenizer, 256, 32), tokenizer.pad_token_id,
                                           8, precision)
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["# The shipped general measures on base models", "",
             f"Cloze items: two-way, chance 0.50, used where the base model reaches {balance.CLOZE_INFORMATIVE}; "
             f"general text: used where the loss is under {balance.TEXT_INFORMATIVE} x ln(vocabulary).", "",
             "| model | weights | shipped text loss | ln(vocabulary) | WikiText-2 loss | cloze accuracy | guard uses |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        uses = ", ".join(k for k, v in (("text", r["text_used"]), ("cloze", r["cloze_used"])) if v) or "neither"
        wiki = f"{r['wikitext_loss']:.3f}" if "wikitext_loss" in r else "-"
        lines.append(f"| {r['model']} | {r['weights']} | {r['text_loss']:.3f} | {r['uniform_loss']:.2f} | {wiki} | "
                     f"{r['cloze_accuracy']:.2f} | {uses} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    from anchortune.models.catalog import CATALOG

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(CATALOG))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    wikitext = settings.shared_data() / "general" / "wikitext2_excerpt.txt"
    rows = []
    for name in args.models.split(","):
        entry = CATALOG[name]
        if not entry.is_prepared() and entry.gguf_path() is None:
            print(f"{name}: not installed ({entry.install}), left out")
            continue
        for random_weights in (False, True):
            rows.append(measure_model(name, random_weights, wikitext if wikitext.is_file() else None))
            print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "general_baselines.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "general_baselines.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
