"""DPO training steps on a CPU with TRL's fused LM head scoring every position (TRL's own choice there) against the
labelled positions only (anchortune's setting, libraries.py), the same trainer, pairs and seed, in one process.

    python bench/preference_head.py [--pairs 32] [--steps 4] [--rounds 2] [--max-chars 1000] [--max-length 320]

The packaged model with the product's LoRA and DPO settings (train/preference.py's `_arguments`, batch 8 in micro-
batches of 2), hh-rlhf harmless-base pairs rendered as a run renders them (data/pair_tokens.py). The two settings
alternate (A B A B ...), each a fresh adapter from the same seed; reported: seconds a step (the Trainer's
train_runtime over its steps, best and median), the training loss of each round (the same pairs and weights: equal
up to summation order), and the machine. Results go to bench/results/preference_head.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from anchortune import libraries, settings

MODEL = "smollm2-135m-instruct"


def rows(path: Path, n: int, max_chars: int, tokenizer, max_length: int) -> list[dict]:
    """A seeded sample of pairs as bench/preference_tools.py draws them, rendered as a run renders them."""
    from preference_tools import sample_lines  # bench/, beside this file

    from anchortune.data.pair_tokens import render
    from anchortune.data.pairs import load_pairs
    from anchortune.data.presets import load_preset

    with tempfile.TemporaryDirectory() as work:
        drawn = Path(work) / "pairs.jsonl"
        drawn.write_text("\n".join(sample_lines(path, n, 0, max_chars)) + "\n")
        pairs = load_pairs(drawn)
    rendered, _ = render(pairs, load_preset("custom"), tokenizer, max_length)
    return [r.text_row() for r in rendered]


def one_round(train_rows: list[dict], steps: int, max_length: int, labelled_only: bool) -> dict:
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOTrainer
    from trl.trainer import utils

    from anchortune.config import RunConfig
    from anchortune.data.presets import load_preset
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model
    from anchortune.train.adapter import seed_lora
    from anchortune.train.preference import _arguments, _lora_config

    utils._use_triton = PATCHED if labelled_only else ORIGINAL
    source = resolve_model(MODEL)
    tokenizer = load_tokenizer(source)
    cfg = RunConfig.build(data="pairs.jsonl", model=MODEL, objective="dpo", max_steps=steps, batch_size=8,
                          max_length=max_length, learning_rate=5e-4).resolve(load_preset("custom"))
    with tempfile.TemporaryDirectory() as out, libraries.BUILDING:
        args = _arguments(cfg, Path(out), steps, steps, 2, "fp32", has_valid=False)
        args.save_strategy = "no"
        trainer = DPOTrainer(model=load_model(source), args=args, train_dataset=Dataset.from_list(train_rows),
                             processing_class=tokenizer, peft_config=_lora_config(cfg))
    seed_lora(trainer.model, cfg.seed)
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    output = trainer.train()
    wall = time.perf_counter() - started
    return {"labelled_only": labelled_only, "seconds_per_step": output.metrics["train_runtime"] / steps,
            "wall_s": wall, "train_loss": output.metrics["train_loss"]}


def main() -> int:
    global ORIGINAL, PATCHED
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-chars", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=320)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    shared = settings.shared_data() / "preference" / "hh_harmless_base_train.jsonl"
    if not shared.is_file():
        print(f"skipped: {shared} not found (set ANCHORTUNE_SHARED_DATA)")
        return 0
    import torch
    from trl.trainer import utils

    from anchortune.models.loading import load_tokenizer, resolve_model

    libraries.configure()
    libraries.trl_head_on_labelled_positions()
    PATCHED = utils._use_triton
    ORIGINAL = PATCHED.trl_choice
    train_rows = rows(shared, args.pairs, args.max_chars, load_tokenizer(resolve_model(MODEL)), args.max_length)
    results = [one_round(train_rows, args.steps, args.max_length, labelled)
               for _ in range(args.rounds) for labelled in (False, True)]
    utils._use_triton = PATCHED
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    summary = {}
    for labelled in (False, True):
        mine = [r["seconds_per_step"] for r in results if r["labelled_only"] == labelled]
        summary["labelled" if labelled else "every"] = {"best": min(mine), "median": statistics.median(mine)}
    record = {"rounds": results, "summary": summary, "pairs": len(train_rows), "steps": args.steps,
              "max_length": args.max_length, "machine": {"cpu": cpu, "cores": os.cpu_count(),
                                                         "torch_threads": torch.get_num_threads(),
                                                         "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
              "load_average_end": round(os.getloadavg()[0], 2)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "preference_head.json").write_text(json.dumps(record, indent=2) + "\n")
    every, labelled = summary["every"], summary["labelled"]
    lines = ["# DPO steps: TRL's fused head on every position against the labelled positions only (CPU)", "",
             f"`bench/preference_head.py --pairs {args.pairs} --steps {args.steps} --rounds {args.rounds} "
             f"--max-chars {args.max_chars} --max-length {args.max_length}`: {len(train_rows)} hh-rlhf pairs, "
             f"SmolLM2-135M-Instruct, LoRA r16, batch 8 in micro-batches of 2, fp32; {cpu}, {os.cpu_count()} cores, "
             f"{torch.get_num_threads()} torch threads; the two settings alternated in one process.", "",
             "| round | head scores | s / step | training loss |", "|---|---|---|---|"]
    lines += [f"| {i // 2 + 1} | {'labelled positions' if r['labelled_only'] else 'every position (TRL on CPU)'} | "
              f"{r['seconds_per_step']:.2f} | {r['train_loss']:.5f} |" for i, r in enumerate(results)]
    lines += ["", f"Best: {every['best']:.2f} s a step scoring every position, {labelled['best']:.2f} s the labelled "
                  f"ones ({every['best'] / labelled['best']:.2f}x); median {every['median']:.2f} against "
                  f"{labelled['median']:.2f}.", ""]
    (args.out / "preference_head.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


ORIGINAL = PATCHED = None

if __name__ == "__main__":
    raise SystemExit(main())
