"""Fine-tune the default model on 300 Bitext support rows and compare base and tuned on unseen rows.

    python bench/support_bitext.py [--rows 300] [--test 100] [--out bench/results]

Reads ../shared/datasets/support/bitext_customer_support.jsonl (or $ANCHORTUNE_SHARED_DATA).
Training gets `rows` rows plus a 10 % validation split (early stopping); the test rows are drawn
from the rest and never seen during training. Writes JSON and Markdown into bench/results/.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from anchortune import settings
from anchortune.app import datasets as app_datasets
from anchortune.app import runs as app_runs
from anchortune.config import RunConfig
from anchortune.data.loading import save_anchor_points


def machine() -> str:
    import torch

    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    source = settings.shared_data() / "support" / "bitext_customer_support.jsonl"
    if not source.is_file():
        print(f"skipped: {source} not found (set ANCHORTUNE_SHARED_DATA)")
        return 0
    points = app_datasets.read_anchor_points(source)
    random.Random(args.seed).shuffle(points)
    n_train = round(args.rows / 0.9)
    train, test = points[:n_train], points[n_train:n_train + args.test]
    work = Path(tempfile.mkdtemp(prefix="bench-bitext-"))
    data = save_anchor_points(train, work / "train.jsonl")
    cfg = RunConfig.build(data=str(data), task="support", val_fraction=0.1, seed=args.seed)
    started = time.perf_counter()
    outcome = app_runs.train_run(cfg, work / "run")
    wall = time.perf_counter() - started
    compared = app_runs.compare_on(work / "run", test)
    report = {"benchmark": "support_bitext", "machine": machine(), "train_rows": outcome.summary["data"]["train"],
              "valid_rows": outcome.summary["data"]["valid"], "test_rows": len(test), "wall_seconds": wall,
              "training": outcome.summary["training"], "test": compared}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "support_bitext.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (args.out / "support_bitext.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(r: dict) -> str:
    t, tr = r["test"], r["training"]
    lines = [f"# Bitext support: {r['train_rows']} training rows, {r['test_rows']} unseen test rows", "",
             f"Machine: {r['machine']}; precision {tr['precision']}; wall time {r['wall_seconds']:.0f} s "
             f"(training {tr['train_seconds']:.0f} s at {tr['tokens_per_s']:.0f} trained tokens/s, "
             f"{tr['steps']} of {tr['max_steps']} steps, best step {tr['best_step']})", "",
             "| model | held-out answer loss (test rows) |", "|---|---|",
             f"| base | {t['base_loss']:.4f} |", f"| tuned | {t['tuned_loss']:.4f} |", ""]
    for s in t["samples"]:
        lines += [f"**Prompt (line {s['line']}):** {s['prompt']}", "", f"- reference: {s['reference'][:300]}",
                  f"- base: {s['base'][:300]}", f"- tuned: {s['tuned'][:300]}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
