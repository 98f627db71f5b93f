"""Domain adaptation on contract language: held-out perplexity, general retention, and a task tuned on top.

    python bench/domain_adaptation.py [--out bench/results]

Domain documents: contract clauses from LegalBench's CUAD anti-assignment and insurance test sets and the unfair
terms-of-service clauses in ../shared/datasets/legal, grouped into documents of DOC_CLAUSES clauses (answers
dropped: raw text only). `anchortune adapt` (app/adapt.py, defaults: LoRA, one epoch, the guard on) trains on
them; the table gives the held-out documents' perplexity before and after, and general ability measured outside
the guard (WikiText-2 loss on 32 x 256 tokens, beside the guard's own shipped-text and cloze measures). Then the
same task run (CUAD exclusivity, the legal preset, TRAIN_ROWS rows; a disjoint HELD_ROWS for its test) starts once
from the base model and once from the adapted one, and `eval` scores both on the task's held-out rows.
Writes bench/results/domain_adaptation.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from outcomes import pair, shared_or_none  # noqa: E402


DOC_CLAUSES = 25
DOMAIN_TASKS = ("cuad_anti-assignment", "cuad_insurance", "unfair_tos")
UNFAIR_CLAUSES = 800  # of unfair_tos's 3,804: the contracts stay the larger part of the domain text
TASK, TRAIN_ROWS, HELD_ROWS = "cuad_exclusivity", 200, 100


def domain_documents(shared: Path, work: Path) -> Path:
    folder = work / "contracts"
    folder.mkdir(parents=True, exist_ok=True)
    clauses = []
    for task in DOMAIN_TASKS:
        rows = [json.loads(line) for line in (shared / "legal" / task / "test.jsonl").open(encoding="utf-8")]
        clauses += [r["text"] for r in (rows[:UNFAIR_CLAUSES] if task == "unfair_tos" else rows)]
    random.Random(0).shuffle(clauses)
    for k in range(0, len(clauses), DOC_CLAUSES):
        (folder / f"contract-{k // DOC_CLAUSES:03d}.txt").write_text("\n\n".join(clauses[k:k + DOC_CLAUSES]))
    return folder


def wikitext_loss(model_dir: Path, shared: Path) -> float:
    from anchortune.engine.loss import answer_loss
    from anchortune.evaluate.retention import text_chunks
    from anchortune.models.loading import load_model, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir)
    chunks = text_chunks(shared / "general" / "wikitext2_excerpt.txt", tokenizer)
    return answer_loss(model, chunks, tokenizer.pad_token_id, 8, "fp32")


def task_files(shared: Path, work: Path) -> tuple[Path, Path]:
    from anchortune.data.loading import save_anchor_points
    from anchortune.data.records import AnchorPoint

    question = (shared / "legal" / TASK / "base_prompt.txt").read_text().splitlines()[0]
    rows = [json.loads(line) for line in (shared / "legal" / TASK / "test.jsonl").open(encoding="utf-8")]
    random.Random(0).shuffle(rows)
    points = [pair(f"{question}\n\nClause: {r['text']}", r["answer"], r["answer"]) for r in rows]
    renumber = lambda ps: [AnchorPoint(p.messages, i, p.label) for i, p in enumerate(ps, start=1)]  # noqa: E731
    return (save_anchor_points(renumber(points[:TRAIN_ROWS]), work / "task-train.jsonl"),
            save_anchor_points(renumber(points[TRAIN_ROWS:TRAIN_ROWS + HELD_ROWS]), work / "task-heldout.jsonl"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    shared = shared_or_none()
    if shared is None:
        return 0
    import torch

    from anchortune.app import runs
    from anchortune.recipes.adapt import adapt_run
    from anchortune.config import RunConfig
    from anchortune.models.loading import resolve_model

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-adapt-"))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    docs = domain_documents(shared, work)
    adapted = work / "adapted"
    summary = adapt_run([docs], adapted, on_event=lambda e: print(e.kind, e.step, json.dumps(e.data)[:160],
                                                                   flush=True))
    wiki = {"base": wikitext_loss(Path(resolve_model(None)), shared), "adapted": wikitext_loss(adapted / "model", shared)}
    print("wikitext", wiki, flush=True)
    train_file, held_file = task_files(shared, work)
    tasks = {}
    for name, model in (("from the base model", None), ("from the adapted model", str(adapted))):
        out = work / ("task-" + name.split()[-2])
        outcome = runs.train_run(RunConfig.build(data=str(train_file), task="legal", model=model, seed=0), out,
                                 force=True)
        evaluated = runs.evaluate_run(out, held_file)
        tasks[name] = {"tuned": evaluated["models"]["tuned"], "base": evaluated["models"]["base"],
                       "metric": evaluated["metric"], "chosen": outcome.summary["balance"]["chosen"],
                       "verdict": (outcome.summary["balance"]["diagnosis"] or {}).get("verdict")}
        print(name, json.dumps({k: v for k, v in evaluated["models"]["tuned"].items()
                                if isinstance(v, (int, float))}), flush=True)
    d, g = summary["domain"], summary["general"]
    metric = next(iter(tasks.values()))["metric"]
    lines = ["# Domain adaptation on contract language (SmolLM2-135M-Instruct, `anchortune adapt` defaults)", "",
             f"Machine: {machine}. Domain text: {summary['documents']} documents of {DOC_CLAUSES} clauses (CUAD "
             f"anti-assignment and insurance, unfair terms of service), {summary['held_out_documents']} held out; "
             f"{summary['cleaning']}. General ability outside the guard: WikiText-2, 32 x 256 tokens.", "",
             "| measure | base model | adapted | change |", "|---|---|---|---|",
             f"| held-out domain perplexity | {d['base_perplexity']:.2f} | {d['tuned_perplexity']:.2f} | "
             f"{d['tuned_perplexity'] / d['base_perplexity'] - 1:+.1%} |",
             f"| WikiText-2 loss (outside the guard) | {wiki['base']:.4f} | {wiki['adapted']:.4f} | "
             f"{wiki['adapted'] / wiki['base'] - 1:+.1%} |"]
    if g.get("base_text") is not None and g.get("tuned_text") is not None:
        lines.append(f"| shipped general-text loss (the guard's) | {g['base_text']:.4f} | {g['tuned_text']:.4f} | "
                     f"{g['tuned_text'] / g['base_text'] - 1:+.1%} |")
    if g.get("base_cloze") is not None and g.get("tuned_cloze") is not None:
        lines.append(f"| cloze accuracy (the guard's) | {g['base_cloze']:.2f} | {g['tuned_cloze']:.2f} | "
                     f"{100 * (g['tuned_cloze'] - g['base_cloze']):+.0f} points |")
    lines += ["", f"Verdict of the adaptation run: {(summary['balance']['diagnosis'] or {}).get('verdict')}; kept "
              f"step {summary['training']['best_step']} of {summary['training']['steps']}.", "",
              f"Task on top: {TASK} (legal preset, {TRAIN_ROWS} training rows, {HELD_ROWS} held-out rows, seed 0).",
              "", f"| task run | {metric} (held out) | accuracy | held-out answer loss | verdict |", "|---|---|---|---|---|"]
    for name, t in tasks.items():
        tuned = t["tuned"]
        lines.append(f"| {name} | {tuned.get(metric, float('nan')):.3f} | {tuned.get('accuracy', float('nan')):.3f} | "
                     f"{tuned['answer_loss']:.4f} | {t['verdict']} |")
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "domain_adaptation.json").write_text(json.dumps({"machine": machine, "adapt": summary,
                                                                 "wikitext": wiki, "tasks": tasks}, indent=2))
    (args.out / "domain_adaptation.md").write_text(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
