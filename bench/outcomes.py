"""Outcomes on real tasks: does the chosen model beat the base on the task metric, and keep general ability?

    python bench/outcomes.py [--tasks support,legal,invoice] [--out bench/results]

For each task, anchor points are drawn from ../shared/datasets (seeded), a disjoint held-out set is
kept back, anchortune trains with its defaults (gate, balance guard), and `eval` compares base and
tuned on the held-out rows, with general-text loss on the WikiText excerpt and multiple-choice flips
on MMLU. Writes bench/results/outcomes.json and .md with the wall time of each run.
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
from anchortune.data.records import AnchorPoint

TASKS = {
    # name: (preset, train rows, held-out rows, run options)
    "support": ("support", 200, 60, {"epochs": 2}),
    "legal": ("legal", 200, 100, {"epochs": 2}),
    "invoice": ("invoice", 100, 40, {"epochs": 2}),
}


def pair(prompt: str, answer: str, label: str | None = None) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), 0, label)


def load(task: str, shared: Path) -> list[AnchorPoint]:
    if task == "support":
        return app_datasets.read_anchor_points(shared / "support" / "bitext_customer_support.jsonl")
    if task == "legal":
        question = (shared / "legal" / "overruling" / "base_prompt.txt").read_text().splitlines()[0]
        rows = [json.loads(l) for l in (shared / "legal" / "overruling" / "test.jsonl").open(encoding="utf-8")]
        return [pair(f"{question}\n\nSentence: {r['text']}", r["answer"], r["answer"]) for r in rows]
    rows = [json.loads(l) for l in (shared / "invoice" / "sroie_receipts.jsonl").open(encoding="utf-8")]
    return [pair(r["ocr_text"], json.dumps(r["fields"], ensure_ascii=False)) for r in rows]


def run_task(name: str, shared: Path, work: Path, seed: int) -> dict:
    preset, n_train, n_held, options = TASKS[name]
    points = load(name, shared)
    random.Random(seed).shuffle(points)
    train, held = points[:n_train], points[n_train:n_train + n_held]
    renumber = lambda ps: [AnchorPoint(p.messages, i, p.label) for i, p in enumerate(ps, start=1)]  # noqa: E731
    train_file = save_anchor_points(renumber(train), work / f"{name}-train.jsonl")
    held_file = save_anchor_points(renumber(held), work / f"{name}-heldout.jsonl")
    started = time.perf_counter()
    run = work / f"{name}-run"
    if (run / "summary.json").is_file():  # a finished run in a reused --work folder: evaluate it again
        summary = json.loads((run / "summary.json").read_text())
        train_wall = json.loads((run / "bench_wall.json").read_text())["train_wall_s"]
    else:
        summary = app_runs.train_run(RunConfig.build(data=str(train_file), task=preset, seed=seed, **options),
                                    run, force=True).summary
        train_wall = time.perf_counter() - started
        (run / "bench_wall.json").write_text(json.dumps({"train_wall_s": train_wall}))
    started = time.perf_counter() - train_wall
    result = app_runs.evaluate_run(run, held_file, shared / "general" / "wikitext2_excerpt.txt",
                                  shared / "general" / "mmlu_val.jsonl", limit=n_held)
    return {"task": name, "train_rows": len(train), "heldout_rows": len(held), "train_wall_s": train_wall,
            "eval_wall_s": time.perf_counter() - started - train_wall, "metric": result["metric"],
            "base": result["models"]["base"], "tuned": result["models"]["tuned"],
            "retention": result["retention"], "choices": result.get("choices"),
            "verdict": summary["balance"]["diagnosis"], "chosen": summary["balance"]["chosen"],
            "quality": summary.get("quality", {}).get("verdict"), "tokens_per_s": summary["training"]["tokens_per_s"]}


HEADLINE = {"support": "rouge_l", "legal": "macro_f1", "invoice": "field_f1"}


def markdown(rows: list[dict], machine: str) -> str:
    lines = ["# Outcomes: base against the chosen tuned model on held-out rows", "", f"Machine: {machine}.", "",
             "| task | train / held-out rows | metric | base | tuned | general-text loss change | MMLU right-to-wrong "
             "| verdict | chosen step x scale | train wall s | eval wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        key = HEADLINE[r["task"]]
        c = r["choices"] or {}
        lines.append(f"| {r['task']} | {r['train_rows']} / {r['heldout_rows']} | {key} | {r['base'][key]:.3f} | "
                     f"{r['tuned'][key]:.3f} | {r['retention'].get('general_text_loss', float('nan')):+.1%} | "
                     f"{c.get('right_to_wrong', '-')} of {c.get('items', '-')} | {r['verdict']['verdict']} | "
                     f"{r['chosen']['step']} x {r['chosen']['scale']} | {r['train_wall_s']:.0f} | {r['eval_wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


def task_parser(description: str) -> argparse.ArgumentParser:
    """The options every per-task bench takes (this one and bench/balance_calibration.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tasks", default="support,legal,invoice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--work", type=Path, help="Folder for data and runs (reused: finished runs are scored again).")
    return parser


def shared_or_none() -> Path | None:
    """../shared/datasets (or ANCHORTUNE_SHARED_DATA), or None after saying the bench is skipped without it."""
    shared = settings.shared_data()
    if not shared.is_dir():
        print(f"skipped: {shared} not found")
        return None
    return shared


def over_tasks(args, stem: str, run_one, markdown) -> int:
    """run_one(name, shared, work) for each task, the table printed after each; {stem}.json and .md written."""
    shared = shared_or_none()
    if shared is None:
        return 0
    import torch

    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    work = args.work or Path(tempfile.mkdtemp(prefix=f"bench-{stem}-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.tasks.split(","):  # the results so far written after each task: a long bench keeps them
        rows.append(run_one(name, shared, work))
        print(markdown(rows, machine), flush=True)
        (args.out / f"{stem}.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
        (args.out / f"{stem}.md").write_text(markdown(rows, machine))
    return 0


def main() -> int:
    args = task_parser(__doc__.splitlines()[0]).parse_args()
    return over_tasks(args, "outcomes", lambda name, shared, work: run_task(name, shared, work, args.seed), markdown)


if __name__ == "__main__":
    sys.exit(main())
