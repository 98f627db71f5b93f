"""Does the learning curve of `anchortune plan` predict what more data buys? Bitext support and Banking77 intents.

    python bench/data_sufficiency.py [--tasks support,banking77] [--out bench/results]

For each data set, rows are drawn from ../shared/datasets (seeded) and `recipes.plan.plan_data` runs on the default
model with its defaults: a held-out split, the model trained on nested subsets of 1/8, 1/4, 1/2 and all of the
rest, the held-out answer loss measured after each. The table sets the curve's prediction for the full size,
fitted to the three smaller subsets alone, against the loss measured there (the curve never saw it), with the
prediction's 95 % interval, and lists the plan's own figures: the prediction at 2x and 4x the data and the
per-intent suggestions. Writes bench/results/data_sufficiency.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from outcomes import shared_or_none  # noqa: E402

from anchortune.app import datasets as app_datasets  # noqa: E402
from anchortune.data.loading import save_anchor_points  # noqa: E402
from anchortune.data.records import AnchorPoint  # noqa: E402

TASKS = {  # name: (file under shared/, preset, rows)
    "support": ("support/bitext_customer_support.jsonl", "support", 240),
    "banking77": ("classification/banking77_train.jsonl", "classification", 400),
}


def run_task(name: str, shared: Path, work: Path, seed: int) -> dict:
    from anchortune.recipes.plan import plan_data

    path, preset, rows = TASKS[name]
    points = app_datasets.read_anchor_points(shared / path)
    random.Random(seed).shuffle(points)
    data = save_anchor_points([AnchorPoint(p.messages, i, p.label) for i, p in enumerate(points[:rows], start=1)],
                              work / f"{name}.jsonl")
    result = plan_data(data, preset, seed=seed, on_event=lambda e: print(f"{name}: {e.data.get('message')}",
                                                                          flush=True))
    return {**result, "task": name, "preset": preset}


def markdown(rows: list[dict], machine: str) -> str:
    from anchortune.recipes.plan import reliability

    lines = ["# Data sufficiency: the learning curve's prediction against the measured loss", "",
             f"Machine: {machine}. Model: the catalog default (SmolLM2-135M-Instruct), LoRA, each preset's epochs; "
             "metric: held-out answer loss (nats per answer token) on the plan's own held-out split. 'Predicted' is "
             "the power law fitted to the three smaller subsets alone, at the full size; its interval a paired "
             "bootstrap of the held-out rows.", "",
             "| data | anchor points (train / held out) | subsets | held-out loss at each | base model | predicted at "
             "full size from the smaller three (95 % interval) | measured | error | inside | predicted at 2x | at 4x "
             "| wall s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, (two, four) = r["backtest"], r["predictions"]
        error = (b["predicted"] - b["measured"]) / b["measured"]
        lines.append(f"| {r['task']} | {r['train']} / {r['held_out']} | {', '.join(map(str, r['sizes']))} | "
                     f"{', '.join(f'{x:.4f}' for x in r['losses'])} | {r['base_loss']:.4f} | {b['predicted']:.4f} "
                     f"({b['low']:.4f} to {b['high']:.4f}) | {b['measured']:.4f} | {error:+.1%} | "
                     f"{'yes' if b['inside'] else 'no'} | {two['loss']:.4f} ({two['low']:.4f} to {two['high']:.4f}) | "
                     f"{four['loss']:.4f} ({four['low']:.4f} to {four['high']:.4f}) | {r['wall_s']:.0f} |")
    for r in rows:
        lines += ["", f"## {r['task']}: the self-check and what the plan says to write next", "",
                  f"Self-check: {r['backtest'].get('words') or reliability(r['backtest'])}.", ""]
        lines += [f"- {s['words']}" for s in r["suggestions"][:8]] or [
            "- no intent with at least 2 held-out rows lags the whole set"
            + (f" ({len(r['labels_without_a_curve'])} intents have fewer held-out rows and no curve of their own)"
               if r.get("labels_without_a_curve") else
               f" ({len(r['labels'])} intents have held-out rows; with {r['held_out']} held-out rows over the "
               "intents most have one, too few for a curve of their own)" if r["preset"] == "classification" else "")]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="support,banking77")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--render", action="store_true", help="Write the Markdown again from the stored JSON.")
    args = parser.parse_args()
    if args.render:
        stored = json.loads((args.out / "data_sufficiency.json").read_text())
        (args.out / "data_sufficiency.md").write_text(markdown(stored["rows"], stored["machine"]))
        return 0
    shared = shared_or_none()
    if shared is None:
        return 0
    import torch

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    work = Path(tempfile.mkdtemp(prefix="bench-sufficiency-"))
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.tasks.split(","):
        rows.append(run_task(name, shared, work, args.seed))
        text = markdown(rows, machine)
        print(text, flush=True)
        (args.out / "data_sufficiency.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
        (args.out / "data_sufficiency.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
