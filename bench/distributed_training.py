"""Training on several processes against one: the same run of the real model on 1 process, on 2 with DDP and on 2
with FSDP2 where there are two GPUs (train/distributed.py; accelerate runs FSDP on accelerators only), side by
side in one script.

    python bench/distributed_training.py [--rows 64] [--steps 8] [--out bench/results]

Each side trains SmolLM2-135M (the default model, LoRA, the standard engine, fp32 so the sides can agree to
rounding) on the same Bitext rows from ../shared/datasets with the same global batch, and the script reports each
side's training and validation losses step by step, the largest difference to the single process's, the
largest difference of the trained adapters' weights, and the wall time and trained tokens/s. On a machine with
CUDA GPUs the processes are GPUs; without, they are CPU processes sharing the cores (on 2 cores that measures the
launch's overhead and parity, not a speed-up). Writes bench/results/distributed_training.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from outcomes import load, shared_or_none  # noqa: E402

from anchortune.app import runs as app_runs  # noqa: E402
from anchortune.config import RunConfig  # noqa: E402
from anchortune.data.loading import save_anchor_points  # noqa: E402
from anchortune.data.records import AnchorPoint  # noqa: E402

SIDES = {"1 process": {}, "2 processes, DDP": {"devices": 2}}
FSDP_SIDE = {"2 processes, FSDP2": {"devices": 2, "strategy": "fsdp"}}  # GPUs only: accelerate shards on accelerators


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    shared = shared_or_none()
    if shared is None:
        return 0
    import torch
    from safetensors.torch import load_file

    points = load("support", shared)
    random.Random(0).shuffle(points)
    work = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    data = save_anchor_points([AnchorPoint(p.messages, i, p.label) for i, p in enumerate(points[:args.rows], 1)],
                              work / "support.jsonl")
    results = {}
    sides = {**SIDES, **(FSDP_SIDE if torch.cuda.device_count() >= 2 else {})}
    for name, extra in sides.items():
        cfg = RunConfig.build(data=str(data), task="support", max_steps=args.steps, eval_every=max(1, args.steps // 2),
                              batch_size=8, engine="standard", precision="fp32", seed=0, **extra)
        started = time.perf_counter()
        outcome = app_runs.train_run(cfg, work / name.replace(" ", "-").replace(",", ""), force=True)
        wall = time.perf_counter() - started
        rows = [json.loads(line) for line in (outcome.folder / "metrics.jsonl").read_text().splitlines()]
        results[name] = {"wall_s": wall, "tokens_per_s": outcome.summary["training"]["tokens_per_s"],
                         "train": [r["train_loss"] for r in rows if "train_loss" in r],
                         "valid": [r["valid_loss"] for r in rows if "valid_loss" in r],
                         "adapter": str(outcome.folder / "adapter" / "adapter_model.safetensors")}
        print(name, json.dumps({k: v for k, v in results[name].items() if k != "adapter"}), flush=True)
    single = results["1 process"]
    reference = load_file(single["adapter"])
    for name, r in results.items():
        weights = load_file(r["adapter"])
        r["adapter_max_diff"] = max((weights[k] - reference[k]).abs().max().item() for k in reference)
        r["train_max_diff"] = max(abs(a - b) for a, b in zip(r["train"], single["train"]))
        r["valid_max_diff"] = max(abs(a - b) for a, b in zip(r["valid"], single["valid"]))
    cuda = torch.cuda.is_available()
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}" if cuda else
               f"{platform.machine()}, {os.cpu_count()} cores, no GPU") + f", torch {torch.__version__}"
    lines = ["# Training on several processes against one (SmolLM2-135M, LoRA, standard engine, fp32)", "",
             f"Machine: {machine}. Data: {args.rows} Bitext rows, {args.steps} steps of a global batch of 8, "
             "the same seed; each side in its own run folder, one after the other in this script.", "",
             "| side | wall s | trained tokens/s | training losses | validation losses | largest training-loss "
             "difference to 1 process | largest validation-loss difference | largest adapter weight difference |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['wall_s']:.0f} | {r['tokens_per_s']:.0f} | "
                     f"{', '.join(f'{x:.4f}' for x in r['train'])} | {', '.join(f'{x:.4f}' for x in r['valid'])} | "
                     f"{r['train_max_diff']:.2e} | {r['valid_max_diff']:.2e} | {r['adapter_max_diff']:.2e} |")
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "distributed_training.json").write_text(json.dumps({"machine": machine, "results": results},
                                                                   indent=2))
    (args.out / "distributed_training.md").write_text(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
