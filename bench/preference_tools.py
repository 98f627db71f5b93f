"""Preference tuning and tool-calling SFT on real data with the packaged model, base and tuned side by side.

    python bench/preference_tools.py [--part dpo|orpo|tools|all] [--pairs 200] [--held-pairs 100]
                                     [--tool-rows 240] [--held-tools 120] [--out bench/results]

- dpo / orpo: hh-rlhf harmless-base pairs (../shared/datasets/preference): a seeded sample of the train file tuned
  with `anchortune train --objective dpo` (or orpo) on SmolLM2-135M-Instruct, the held-out pairs a seeded sample of
  the test file (no prompt in both). Reported: held-out preference accuracy (the chosen answer the more likely) of
  base and tuned, reward accuracy and margin, and general-text loss of base and tuned on the shipped general text
  and on a WikiText-2 excerpt (../shared/datasets/general), which the run never sees: the bound is 5 %.
- tools: BFCL function calls (../shared/datasets/tools) trained as a supervised run with `--chat-template
  chatml-tools` (SmolLM2's own template cannot render tools, and the run says so); the held-out file is BFCL's test
  split. Reported: tool-name accuracy, argument exact match, schema validity, plain text where no tool is needed,
  base and tuned.
Every run goes through the product's own path (app.runs.train_run: gate, training, balance guard, summary). Results
are merged into bench/results/preference_tools.{json,md} by part, each with its machine, load average, wall time
and settings; a part not run keeps its stored result.
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

from anchortune import settings
from anchortune.app import runs as app_runs
from anchortune.config import RunConfig

MODEL = "smollm2-135m-instruct"


def machine() -> dict:
    import torch

    from anchortune.engine import precision

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "native_bf16": precision.cpu_has_bf16(), "torch": torch.__version__,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def sample_lines(path: Path, n: int, seed: int, max_chars: int | None = None) -> list[str]:
    """A seeded sample of a file's rows; with `max_chars`, only rows of at most that many characters of text (the
    sizes this machine allows, said in the results)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if max_chars:
        lines = [line for line in lines if len(_text(json.loads(line))) <= max_chars]
    random.Random(seed).shuffle(lines)
    return lines[:n]


def _text(row) -> str:
    """The text of a row's messages (its contents), for the length filter."""
    if isinstance(row, dict):
        return "".join(_text(v) for k, v in row.items() if k != "id")
    if isinstance(row, list):
        return "".join(_text(v) for v in row)
    return row if isinstance(row, str) else ""


def wikitext_losses(run: Path, wikitext: Path) -> dict:
    """Loss per token of base and tuned on a WikiText-2 excerpt (256-token windows), which no run sees."""
    from anchortune.engine.loss import answer_loss
    from anchortune.engine.precision import choose
    from anchortune.evaluate.retention import text_chunks
    from anchortune.models.loading import load_model, load_tokenizer, load_tuned, resolve_model

    source = resolve_model(MODEL)
    tokenizer = load_tokenizer(source)
    chunks = text_chunks(wikitext, tokenizer, 256, 32)
    chosen = choose("auto")
    base = answer_loss(load_model(source), chunks, tokenizer.pad_token_id, 8, chosen)
    tuned = answer_loss(load_tuned(run, source), chunks, tokenizer.pad_token_id, 8, chosen)
    return {"base": base, "tuned": tuned, "change": tuned / base - 1, "windows": len(chunks)}


def run_part(part: str, args, work: Path, shared: Path) -> dict:
    if part in ("dpo", "orpo"):
        folder = shared / "preference"
        train = work / "hh_train_sample.jsonl"
        held = work / "hh_test_sample.jsonl"
        drawn = sample_lines(folder / "hh_harmless_base_train.jsonl", args.pairs + args.guard_pairs, args.seed,
                             args.pair_chars)
        train.write_text("\n".join(drawn[args.guard_pairs:]) + "\n")
        guard = work / "hh_guard_sample.jsonl"
        if args.guard_pairs:
            guard.write_text("\n".join(drawn[:args.guard_pairs]) + "\n")
        held.write_text("\n".join(sample_lines(folder / "hh_harmless_base_test.jsonl", args.held_pairs, args.seed,
                                               args.pair_chars)) + "\n")
        options = dict(objective=part, max_length=args.pair_length, beta=args.beta, learning_rate=args.pair_lr,
                       epochs=args.pair_epochs, max_steps=args.pair_steps, batch_size=args.pair_batch,
                       eval_every=args.pair_eval_every or args.pair_steps)
        sizes = {"train_pairs": len(drawn) - args.guard_pairs, "held_out_pairs": args.held_pairs,
                 "guard_pairs": args.guard_pairs, "max_chars_per_pair": args.pair_chars}
    else:
        folder = shared / "tools"
        train = work / "bfcl_train_sample.jsonl"
        held = work / "bfcl_test_sample.jsonl"
        train.write_text("\n".join(sample_lines(folder / "bfcl_train.jsonl", args.tool_rows, args.seed)) + "\n")
        held.write_text("\n".join(sample_lines(folder / "bfcl_test.jsonl", args.held_tools, args.seed)) + "\n")
        options = dict(chat_template="chatml-tools", max_length=args.tool_length, learning_rate=args.tool_lr,
                       epochs=args.tool_epochs, max_steps=args.tool_steps, batch_size=args.tool_batch,
                       eval_every=args.tool_steps)
        sizes = {"train_conversations": args.tool_rows, "held_out_conversations": args.held_tools}
    options = {k: v for k, v in options.items() if v is not None}
    # With --guard-pairs the balance guard chooses its checkpoint on pairs of the train file that are not trained
    # on, and the test file is scored afterwards by `anchortune eval` (the choice never sees what is reported).
    valid = guard if part in ("dpo", "orpo") and args.guard_pairs else held
    cfg = RunConfig.build(data=str(train), valid_data=str(valid), model=MODEL, seed=args.seed, **options)
    out = work / f"run-{part}"
    started, load = time.perf_counter(), os.getloadavg()[0]
    outcome = app_runs.train_run(cfg, out, force=True,
                                 on_event=lambda e: print(f"[{part}] {e.data['message']}", flush=True)
                                 if e.kind in ("stage", "info", "warning") and "message" in e.data else None)
    wall = time.perf_counter() - started
    summary = outcome.summary
    result = {"part": part, "model": MODEL, "settings": {**options, **sizes, "seed": args.seed,
                                                          "resolved": {k: v for k, v in RunConfig.load(
                                                              out / "config.yaml").model_dump().items()
                                                              if k in ("epochs", "max_steps", "learning_rate",
                                                                       "batch_size", "lora_r", "beta", "max_length",
                                                                       "precision")}},
              "machine": machine(), "load_average_start": round(load, 2), "load_average_end":
                  round(os.getloadavg()[0], 2), "wall_s": round(wall, 1),
              "train_seconds": summary["training"]["train_seconds"], "steps": summary["training"]["steps"],
              "verdict": summary["verdict"], "diagnosis": summary["balance"]["diagnosis"], "losses": summary["losses"],
              "encoding": summary["data"]["encoding_summary"], "quality": (summary.get("quality") or {}).get("verdict")}
    if part in ("dpo", "orpo"):
        result["preference"] = summary["preference"]
        if args.guard_pairs:
            from anchortune.recipes.evaluate import evaluate_run

            result["guard_preference"] = summary["preference"]
            test = evaluate_run(out, data=held, limit=args.held_pairs)
            result["preference"] = test["preference"]
            result["test_verdict"] = test["verdict"]
        result["training_reference"] = summary["training"].get("reference")
        wikitext = shared / "general" / "wikitext2_excerpt.txt"
        if wikitext.is_file():
            result["wikitext"] = wikitext_losses(out, wikitext)
    else:
        result["tool_calls"] = summary["tool_calls"]
    return result


def markdown(results: dict) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    lines = ["# Preference tuning and tool-calling SFT on the packaged model", "",
             "`bench/preference_tools.py`, SmolLM2-135M-Instruct, through `anchortune train` (gate, balance guard). "
             "Each part on the machine named beside it; the load average is the shared machine's (other work ran). "
             "Sizes (rows, held-out rows, steps, length) are what a shared 2-core CPU allows, stated per part; run with "
             "OMP_NUM_THREADS=1 (on the oversubscribed machine two threads per process made small operations ~50x "
             "slower). Small held-out sets: read the intervals, not only the point estimates.", ""]
    for part in ("dpo", "orpo"):
        if part not in results:
            continue
        r = results[part]
        p, losses, m = r["preference"], r["losses"], r["machine"]
        lines += [f"## {part.upper()}: hh-rlhf harmless-base pairs", "",
                  f"{r['settings']['train_pairs']} training pairs, {p['pairs']} held-out pairs (test file)"
                  + (f", the guard's checkpoint chosen on {r['settings']['guard_pairs']} further train-file pairs "
                     "not trained on (the test file scored only after the run)"
                     if r["settings"].get("guard_pairs") else "")
                  + (f", pairs of at most {r['settings']['max_chars_per_pair']} characters"
                     if r["settings"].get("max_chars_per_pair") else "") + ", settings "
                  f"{json.dumps(r['settings']['resolved'])}; {r['steps']} steps, {r['train_seconds']:.0f} s training, "
                  f"{r['wall_s']:.0f} s wall; {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch thread(s), torch "
                  f"{m['torch']}, load average "
                  f"{r['load_average_start']} -> {r['load_average_end']}. Reference: {r.get('training_reference')}.",
                  "", "| | base | tuned |", "|---|---|---|",
                  f"| held-out preference accuracy | {pct(p['base']['preference_accuracy'])} | "
                  f"{pct(p['tuned']['preference_accuracy'])} |",
                  f"| reward accuracy (tuning raised chosen over rejected) | - | {pct(p['tuned']['reward_accuracy'])} |",
                  f"| mean reward margin | 0 | {p['tuned']['reward_margin']:.4f} |",
                  f"| {'the guard pairs' if r.get('guard_preference') else 'held-out'} {part.upper()} loss | "
                  f"{losses['base_valid']:.4f} | {losses['tuned_valid']:.4f} |",
                  f"| shipped general-text loss | {losses['base_text']:.4f} | {losses['tuned_text']:.4f} "
                  f"({losses['tuned_text'] / losses['base_text'] - 1:+.2%}) |"]
        if r.get("wikitext"):
            w = r["wikitext"]
            lines.append(f"| WikiText-2 excerpt loss ({w['windows']} windows) | {w['base']:.4f} | {w['tuned']:.4f} "
                         f"({w['change']:+.2%}) |")
        text_change = losses["tuned_text"] / losses["base_text"] - 1
        wiki_change = (r.get("wikitext") or {}).get("change")
        worst = max(abs(text_change), abs(wiki_change or 0.0))
        low, high = p["accuracy_gain_interval"]
        raised = "raised" if low > 0 else "higher, but not surely (the interval includes no change)" if \
            p["tuned"]["preference_accuracy"] > p["base"]["preference_accuracy"] else "NOT raised"
        lines += ["", f"Against the issue's bar: held-out preference accuracy {raised} over "
                      f"the base; general-text loss {'within' if worst <= 0.05 else 'OUTSIDE'} 5 % "
                      f"(largest change {worst:.2%})."]
        verdict = r.get("test_verdict") or r["verdict"]
        if r.get("guard_preference"):
            g = r["guard_preference"]
            lines += ["", f"On the guard's own {g['pairs']} pairs (where the kept checkpoint was chosen): preference "
                          f"accuracy {pct(g['base']['preference_accuracy'])} -> "
                          f"{pct(g['tuned']['preference_accuracy'])}, reward accuracy "
                          f"{pct(g['tuned']['reward_accuracy'])}."]
        lines += ["", f"Accuracy gain {100 * p['accuracy_gain']:+.1f} points (95 % paired-bootstrap interval "
                      f"{100 * low:+.1f} to {100 * high:+.1f}); {p['wrong_to_right']} pairs turned right, "
                      f"{p['right_to_wrong']} wrong. Verdict: **{verdict['verdict']}** "
                      f"(balance guard: {(r['diagnosis'] or {}).get('verdict')}). {verdict['reason']}", ""]
    if "tools" in results:
        r = results["tools"]
        t, m = r["tool_calls"], r["machine"]
        lines += ["## Tool-calling SFT: BFCL simple + multiple", "",
                  f"{r['settings']['train_conversations']} training conversations, {t['examples']} held-out (test "
                  f"file), `--chat-template chatml-tools`, settings {json.dumps(r['settings']['resolved'])}; "
                  f"{r['steps']} steps, {r['train_seconds']:.0f} s training, {r['wall_s']:.0f} s wall; {m['cpu']}, "
                  f"{m['cores']} cores, {m['torch_threads']} torch thread(s), load average {r['load_average_start']} -> {r['load_average_end']}.", "",
                  "| | base | tuned |", "|---|---|---|"]
        for key, name in (("tool_name_accuracy", "tool-name accuracy"), ("argument_exact_match", "argument exact match"),
                          ("schema_validity", "schema validity of the calls made"),
                          ("plain_text_when_no_tool", "plain text where no tool is needed")):
            lines.append(f"| {name} | {pct(t['base'][key])} | {pct(t['tuned'][key])} |")
        better = [k for k in ("tool_name_accuracy", "argument_exact_match")
                  if (t["tuned"][k] or 0) > (t["base"][k] or 0)]
        lines += [f"| calls made | {t['base']['calls_made']} | {t['tuned']['calls_made']} |",
                  f"| shipped general-text loss | {r['losses']['base_text']:.4f} | {r['losses']['tuned_text']:.4f} |",
                  "", f"Argument exact-match gain {100 * t['exact_gain']['mean']:+.1f} points (95 % interval "
                      f"{100 * t['exact_gain']['low']:+.1f} to {100 * t['exact_gain']['high']:+.1f}). Verdict: "
                      f"**{r['verdict']['verdict']}** (balance guard: {(r['diagnosis'] or {}).get('verdict')}). "
                      f"{r['verdict']['reason']}", "",
                  f"Against the issue's bar: {', '.join(k.replace('_', ' ') for k in better) or 'neither'} raised over "
                  f"the base ({'both' if len(better) == 2 else 'NOT both'} of tool-name accuracy and argument exact "
                  f"match).", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("dpo", "orpo", "tools", "all"), default="all")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--held-pairs", type=int, default=100)
    parser.add_argument("--pair-length", type=int, default=256)
    parser.add_argument("--pair-lr", type=float, default=None)
    parser.add_argument("--pair-epochs", type=float, default=None)
    parser.add_argument("--pair-chars", type=int, default=None, help="only pairs of at most this many characters")
    parser.add_argument("--pair-steps", type=int, default=None)
    parser.add_argument("--pair-batch", type=int, default=None)
    parser.add_argument("--guard-pairs", type=int, default=0,
                        help="pairs of the train file kept apart for the guard's choice (the test file is then "
                             "scored only after the run)")
    parser.add_argument("--pair-eval-every", type=int, default=None,
                        help="steps between the guard's evaluations (default: only at --pair-steps)")
    parser.add_argument("--tool-steps", type=int, default=None)
    parser.add_argument("--tool-batch", type=int, default=None)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--tool-rows", type=int, default=240)
    parser.add_argument("--held-tools", type=int, default=120)
    parser.add_argument("--tool-length", type=int, default=768)
    parser.add_argument("--tool-lr", type=float, default=None)
    parser.add_argument("--tool-epochs", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the samples and run folders here (default: a temporary folder, removed after)")
    args = parser.parse_args()
    shared = settings.shared_data()
    if not (shared / "preference").is_dir() or not (shared / "tools").is_dir():
        print(f"skipped: {shared}/preference or /tools not found (set ANCHORTUNE_SHARED_DATA)")
        return 0
    stored = args.out / "preference_tools.json"
    results = json.loads(stored.read_text()) if stored.is_file() else {}
    parts = ("dpo", "tools") if args.part == "all" else (args.part,)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or scratch
        Path(work).mkdir(parents=True, exist_ok=True)
        for part in parts:
            results[part] = run_part(part, args, Path(work), shared)
            args.out.mkdir(parents=True, exist_ok=True)
            stored.write_text(json.dumps(results, indent=2) + "\n")
            (args.out / "preference_tools.md").write_text(markdown(results))
    print((args.out / "preference_tools.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
