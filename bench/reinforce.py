"""Reinforcement fine-tuning (GRPO with graders) on the packaged model, base (the run's start) and tuned side by side.

    OMP_NUM_THREADS=2 python bench/reinforce.py [--part invoice|math|all] [--steps 16] [--sft-steps 20]
                                                [--math-steps 12] [--held 32] [--out bench/results]

- invoice: the bundled invoice demo anchor points (app.datasets.write_demo_data("invoice")), the invoice preset's own
  default grader (json_fields: per-field F1 against the anchor point's answer), `anchortune train --objective
  reinforcement` from a short supervised run of SmolLM2-135M-Instruct on the same training split (--sft-steps; the
  usual recipe: zero-shot the packaged model writes no field right, 0 field F1 greedy and in every sampled answer,
  so every group of answers scores alike and GRPO has nothing to learn from). Reported: held-out field F1 (the
  preset's metric, micro over the fields) and mean reward of the run's start and of the tuned model on the same
  held-out documents.
- math: grade-school math (../shared/datasets/math: GSM8K, OpenAI's reinforcement shape, `reference_answer` the
  number) with the numeric grader (the answer's last number against the reference): a seeded sample of the train
  file, the held-out rows a seeded sample of the test file. With --math-sft-steps, the usual recipe again: a
  supervised run on the worked solutions (the `solution` field) of the train file's other rows first, RFT from its
  folder (zero-shot the packaged model gets about 1 in 24 right and most groups of sampled answers score alike).
  Reported: held-out accuracy (the mean numeric reward) of the run's start and of the tuned model, and, measured
  in the same process on the same held-out prompts, the packaged model's.
Both: the general-text loss of start and tuned on the shipped general text (evaluate/general.py; the bound is 5 %),
the reward-hacking signs the run found, the verdict, wall time, the machine and its load average before and after
(the machine is shared). Every run goes through the product's path (app.runs.train_run: gate, preflight, training,
guard, summary). Results merge into bench/results/reinforce.{json,md} by part; a part not run keeps its stored result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from anchortune.app import datasets
from anchortune.app import runs as app_runs
from anchortune.config import RunConfig

MODEL = "smollm2-135m-instruct"
NUMERIC = {"type": "numeric", "name": "answer", "input": "{{sample.output_text}}",
           "reference": "{{item.reference_answer}}"}


def machine() -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "torch": torch.__version__,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def sample_lines(path: Path, n: int, seed: int) -> list[str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(seed).shuffle(lines)
    return lines[:n]


def run_part(part: str, args, work: Path, shared: Path) -> dict:
    start, sft = args.model, None
    if part == "invoice":
        data = datasets.write_demo_data("invoice", work / "invoice.jsonl")
        settings = dict(task="invoice", max_steps=args.steps, eval_every=max(1, args.steps // 2), batch_size=2,
                        num_generations=4, max_answer_tokens=96, max_length=512, val_fraction=args.val_fraction)
        valid = None
        if args.sft_steps:  # the usual recipe: a short supervised run first (the same split), RFT from its folder
            began = time.perf_counter()
            sft_cfg = RunConfig.build(data=str(data), model=args.model, task="invoice", max_steps=args.sft_steps,
                                      eval_every=max(1, args.sft_steps // 2), val_fraction=args.val_fraction,
                                      max_length=512,
                                      precision="auto")
            done = app_runs.train_run(sft_cfg, work / "sft-invoice", force=True)
            start = str(done.folder)
            sft = {"steps": done.summary["training"]["steps"], "wall_s": round(time.perf_counter() - began, 1),
                   "verdict": (done.summary.get("verdict") or {}).get("verdict")}
    else:
        math = shared / "math"
        rows = sample_lines(math / "gsm8k_train.jsonl", 10 ** 9, 0)
        data = work / "math_train.jsonl"
        data.write_text("\n".join(rows[:args.math_rows]) + "\n", encoding="utf-8")
        valid = work / "math_held.jsonl"
        valid.write_text("\n".join(sample_lines(math / "gsm8k_test.jsonl", args.held, 1)) + "\n", encoding="utf-8")
        settings = dict(task="custom", grader=NUMERIC, max_steps=args.math_steps,
                        eval_every=max(1, args.math_steps // 2), batch_size=2, num_generations=args.math_generations,
                        max_answer_tokens=160, max_length=384)
        if args.math_sft_steps:  # worked solutions of the rows RFT does not use, as prompt/completion pairs
            began = time.perf_counter()
            solutions = work / "math_solutions.jsonl"
            solutions.write_text("".join(json.dumps({"prompt": row["messages"][-1]["content"],
                                                     "completion": row["solution"]}) + "\n"
                                         for row in map(json.loads, rows[args.math_rows:])), encoding="utf-8")
            sft_cfg = RunConfig.build(data=str(solutions), model=args.model, task="custom",
                                      max_steps=args.math_sft_steps, eval_every=max(1, args.math_sft_steps // 2),
                                      max_length=384, precision="auto")
            done = app_runs.train_run(sft_cfg, work / "sft-math", force=True)
            start = str(done.folder)
            sft = {"steps": done.summary["training"]["steps"], "wall_s": round(time.perf_counter() - began, 1),
                   "rows": len(rows) - args.math_rows, "verdict": (done.summary.get("verdict") or {}).get("verdict")}
    cfg = RunConfig.build(data=str(data), model=start, objective="reinforcement", valid_data=str(valid) if valid else
                          None, precision="auto", **settings)
    started, load = time.perf_counter(), os.getloadavg()[0]
    summary = app_runs.train_run(cfg, work / f"run-{part}", force=True).summary
    wall = time.perf_counter() - started
    found, losses = summary["reinforcement"], summary["losses"]
    packaged = packaged_reward(cfg, valid, found["prompts"]) if part == "math" and sft else None
    text_change = (losses["tuned_text"] / losses["base_text"] - 1) if losses.get("base_text") and \
        losses.get("tuned_text") else None
    return {"part": part, "start": "a supervised run" if sft else "the packaged model", "sft": sft,
            "grader": summary["grader"], "prompts": found["prompts"],
            "train_rows": summary["data"]["train"], "steps": summary["training"]["steps"],
            "best_step": summary["training"]["best_step"], "learning_rate": summary["training"]["learning_rate"], "base": found["base"], "tuned": found["tuned"],
            "packaged": packaged, "reward_gain": found["reward_gain"], "kl_to_base": found.get("kl_to_base"), "reward_gain_interval": found["reward_gain_interval"],
            "signs": [s["text"] for s in found["signs"]], "verdict": summary["verdict"]["verdict"],
            "reason": summary["verdict"]["reason"], "base_text_loss": losses.get("base_text"),
            "tuned_text_loss": losses.get("tuned_text"), "text_loss_change": text_change,
            "train_s": round(summary["training"]["train_seconds"], 1), "wall_s": round(wall, 1),
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
            "settings": {k: v for k, v in settings.items() if k != "grader"}, "machine": machine()}


def packaged_reward(cfg: RunConfig, valid: Path, prompts: int) -> dict:
    """The packaged model's greedy answers to the run's held-out prompts, graded as the run grades its start."""
    from anchortune.data.loading import load_anchor_points
    from anchortune.data.presets import load_preset
    from anchortune.engine.precision import choose
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model
    from anchortune.recipes.reinforce_run import grader_of, rows_of
    from anchortune.train.reinforce import held_out_reward

    points = load_anchor_points(valid)
    preset = load_preset(cfg.task).resolved_for(points)
    rows = rows_of(points, preset)[:prompts]
    source = resolve_model(MODEL)
    measured = held_out_reward(load_model(source), load_tokenizer(source), grader_of(cfg, preset), rows, cfg,
                               choose(cfg.precision))
    return {"reward": measured["reward"], "prompts": len(rows),
            "words": sum(len(a.split()) for a in measured["answers"]) / len(rows)}


def markdown(results: dict) -> str:
    lines = ["# Reinforcement fine-tuning with graders (bench/reinforce.py)", "",
             "SmolLM2-135M-Instruct (the packaged model), LoRA, GRPO through TRL's GRPOTrainer, the product's path "
             "(`anchortune train --objective reinforcement`). Start = the model the run started from, measured by the "
             "run on the same held-out prompts (greedy answers).", ""]
    for part, title, metric in (("invoice", "Invoice demo, json_fields grader (the preset's default)", "field F1"),
                                ("math", "Grade-school math (GSM8K), numeric grader", "accuracy")):
        if part not in results:
            continue
        r = results[part]
        low, high = r["reward_gain_interval"]
        change = "-" if r["text_loss_change"] is None else f"{100 * r['text_loss_change']:+.1f} %"
        start = r.get("start", "the packaged model")
        if r.get("sft"):
            where = (f"the worked solutions of {r['sft']['rows']} other training rows" if r["sft"].get("rows")
                     else "the same training split")
            start += f" ({r['sft']['steps']} supervised steps on {where}, wall {r['sft']['wall_s']} s)"
        packaged = r.get("packaged")
        lines += [f"## {title}", "", f"Start: {start}.", ""]
        if packaged:
            lines += [f"The packaged model, measured in the same process on the same {packaged['prompts']} held-out "
                      f"prompts: accuracy {packaged['reward']:.3f}, {packaged['words']:.0f} words per answer.", ""]
        lines += [f"| | start | tuned |", "|---|---|---|",
                  f"| held-out {metric} ({r['prompts']} prompts) | {_num(r['base']['metric'] if part == 'invoice' else r['base']['reward'])} | "
                  f"{_num(r['tuned']['metric'] if part == 'invoice' else r['tuned']['reward'])} |",
                  f"| held-out mean reward | {r['base']['reward']:.3f} | {r['tuned']['reward']:.3f} |",
                  f"| words per answer | {r['base']['words']:.0f} | {r['tuned']['words']:.0f} |",
                  f"| general-text loss | {_num(r['base_text_loss'])} | {_num(r['tuned_text_loss'])} ({change}) |", "",
                  f"Reward gain {r['reward_gain']:+.3f} (95 % interval {low:+.3f} to {high:+.3f}); verdict "
                  f"**{r['verdict']}**: {r['reason']}. Reward-hacking signs: {'; '.join(r['signs']) or 'none'}.", "",
                  f"{r['train_rows']} training prompts, {r['steps']} steps (kept: step {r['best_step']}), settings "
                  f"`{json.dumps(r['settings'])}`; training {r['train_s']} s, wall {r['wall_s']} s; load average "
                  f"{r['load_before']} before, {r['load_after']} after; {r['machine']['cpu']}, {r['machine']['cores']} "
                  f"cores, torch threads {r['machine']['torch_threads']}, OMP_NUM_THREADS "
                  f"{r['machine']['omp_num_threads']}.", ""]
    return "\n".join(lines)


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("invoice", "math", "all"), default="all")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--math-steps", type=int, default=12)
    parser.add_argument("--sft-steps", type=int, default=20, help="invoice: the supervised run RFT starts from (0: "
                                                                   "start from the packaged model)")
    parser.add_argument("--held", type=int, default=32, help="math: held-out rows")
    parser.add_argument("--math-rows", type=int, default=200, help="math: training prompts for RFT")
    parser.add_argument("--math-generations", type=int, default=4, help="math: answers sampled per prompt")
    parser.add_argument("--math-sft-steps", type=int, default=0, help="math: a supervised run on the other rows' "
                                                                      "solutions first (0: start from the packaged "
                                                                      "model)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="invoice: the share held out")
    parser.add_argument("--model", default=MODEL, help="the model (default: the packaged one)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)  # before hours of training, not after (a run's result was lost so)
    stored = args.out / "reinforce.json"
    results = json.loads(stored.read_text()) if stored.is_file() else {}
    parts = ("invoice", "math") if args.part == "all" else (args.part,)
    with tempfile.TemporaryDirectory() as work:
        for part in parts:
            found = run_part(part, args, Path(work), args.shared)
            print(json.dumps(found), flush=True)  # the result on record before anything else can fail
            results = json.loads(stored.read_text()) if stored.is_file() else {}  # another part may have finished
            results[part] = found
            stored.write_text(json.dumps(results, indent=1) + "\n")
            (args.out / "reinforce.md").write_text(markdown(results))
            print(markdown({part: results[part]}), flush=True)


if __name__ == "__main__":
    main()
