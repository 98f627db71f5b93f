"""Held-out preference accuracy of a DPO run's checkpoints, base beside them in the same process.

    OMP_NUM_THREADS=2 python bench/preference_checkpoints.py PAIRS CHECKPOINT [CHECKPOINT ...]
                                                             [--max-length 256] [--beta 0.1] [--out FILE.json]

For a run stopped before its end (no merged model, so no `anchortune eval`), or to see every checkpoint the balance
guard chose among: each CHECKPOINT is a LoRA adapter folder (`checkpoints/checkpoint-N` of a run folder) of the
packaged model. The pairs are rendered and scored with the functions `anchortune eval` uses for a preference run
(data/pair_tokens.render, evaluate/preference.log_likelihoods and compare: the chosen answer the more likely, the
paired-bootstrap interval of the gain, the implicit reward's accuracy and margin), and the shipped general text and
cloze items measure retention. Prints one JSON line per model and writes them all to --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

MODEL = "smollm2-135m-instruct"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=Path, help="held-out preference pairs (JSONL)")
    parser.add_argument("checkpoints", type=Path, nargs="+", help="LoRA adapter folders of the packaged model")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--task", default="custom")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from peft import PeftModel

    from anchortune.data import chat_templates
    from anchortune.data.pair_tokens import render
    from anchortune.data.pairs import load_pairs
    from anchortune.data.presets import load_preset
    from anchortune.engine import precision
    from anchortune.evaluate import general, preference
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model

    source = resolve_model(MODEL)
    tokenizer = chat_templates.use(load_tokenizer(source), None)
    rendered, report = render(load_pairs(args.pairs), load_preset(args.task), tokenizer, args.max_length)
    chosen = precision.choose("auto")
    result = {"pairs": len(rendered), "encoding": report.summary(), "precision": chosen, "beta": args.beta,
              "models": {}}
    scores = {}
    for folder in [None, *args.checkpoints]:
        name, began = "base" if folder is None else folder.name, time.perf_counter()
        model = load_model(source)
        if folder is not None:
            model = PeftModel.from_pretrained(model, str(folder)).eval()
        scores[name] = preference.log_likelihoods(model, rendered, tokenizer.pad_token_id, chosen)
        measured = {"general": general.measure(model, general.general_set(tokenizer), tokenizer.pad_token_id, 8,
                                               chosen), "seconds": round(time.perf_counter() - began, 1)}
        if folder is not None:
            measured["comparison"] = preference.compare(scores["base"], scores[name], args.beta)
            measured["text_loss_change"] = (measured["general"]["text_loss"]
                                            / result["models"]["base"]["general"]["text_loss"] - 1)
        result["models"][name] = measured
        print(json.dumps({name: measured}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
