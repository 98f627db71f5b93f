"""How the quality gate's cost grows with the data: time and peak memory at 20,000, 40,000, 200,000 and 1,000,000
rows.

    python bench/quality_scale.py [--sizes 20000 40000 200000 1000000] [--baseline-ref COMMIT] [--out bench/results]

Rows: Bitext support rows from ../shared/datasets (3,611 written by a third party), repeated with their numbers
redrawn, one of ten greetings before and one of ten closings after each question, and the answers' order and
account placeholders filled with random values: every row distinct, and every question asked ~55 times in
slightly different words (the hardest case for the same-question and near-duplicate checks, which compare
neighbours). Each size is checked by `datasets.check_data` (the studio's and `anchortune check`'s path, task support)
in its own process, so peak memory (max RSS) is that check's alone. Model loading is timed apart. Above
datasets.MAX_ROWS the check reads the file line by line and judges a seeded sample of MAX_ROWS rows; a check from
before that held the whole file.

Side by side in this script:
- with `--baseline-ref`, the same check by the code of that commit (a git worktree, same environment), on the
  sizes up to `--baseline-max` rows, stopped after `--baseline-timeout` seconds or above `--max-rss-gb` of memory
  (the peak seen so far is kept: a check that holds the file grows with it);
- above the exact-search limit (neighbors.EXACT_ROWS) and up to the rows the gate judges, the HNSW neighbours the gate
  used against exact search for 2,000 random rows: the share of the true 10 nearest found (recall@10), a measure
  outside the approximation.
Every process's peak memory is its resident high-water mark (VmHWM), read while it runs. The sizes measured are merged
into bench/results/quality_scale.{json,md}, each with the commits and the machine's load average while it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(os.environ.get("ANCHORTUNE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" /
                                                     "datasets"))
GREETINGS = ["", "hi, ", "hello ", "hey there, ", "good morning, ", "please ", "urgent: ", "quick question: ",
             "sorry to bother, ", "dear support, "]
CLOSINGS = ["", " thanks", " thank you", " asap", " please", " today", " now", "?", " !!", " cheers"]
SHOPS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne"]


def write_rows(n: int, path: Path, seed: int = 0) -> None:
    source = SHARED / "support" / "bitext_customer_support.jsonl"
    rows = [json.loads(line) for line in source.open(encoding="utf-8")]
    rng = random.Random(seed)

    def number(match: re.Match) -> str:
        return str(rng.randrange(10 ** len(match.group())))

    def placeholder(match: re.Match) -> str:
        name = match.group(1)
        return f"{rng.choice(SHOPS)}-{rng.randrange(10 ** 6)}" if "Number" in name or "ID" in name else match.group(0)
    with path.open("w", encoding="utf-8") as out:
        for k in range(n):
            row = rows[k % len(rows)]
            question = rng.choice(GREETINGS) + re.sub(r"\d+", number, row["instruction"]) + rng.choice(CLOSINGS)
            answer = re.sub(r"\{\{([^}]*)\}\}", placeholder, row["response"])
            out.write(json.dumps({"instruction": question, "response": answer, "intent": row["intent"]}) + "\n")


CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
try:
    from anchortune.app import datasets as app_datasets
except ImportError:  # a baseline from before the application package
    from anchortune import service as app_datasets
from anchortune.quality.embeddings import load_embedder, load_judge
from anchortune.models.loading import load_tokenizer, resolve_model
load_embedder(); load_judge(); load_tokenizer(resolve_model(None))
loaded = time.perf_counter()
report = app_datasets.check_data(sys.argv[1], task="support")
done = time.perf_counter()
kinds = {}
for f in report.findings:
    kinds[f.code] = kinds.get(f.code, 0) + 1
out = {"load_s": loaded - started, "check_s": done - loaded, "peak_rss_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, "verdict": report.verdict, "findings": kinds,
    "rows_judged": report.size.get("rows_judged", report.examples)}
if len(sys.argv) > 2:
    import numpy as np
    from anchortune.data.loading import load_anchor_points
    from anchortune.quality import neighbors
    points = load_anchor_points(sys.argv[1])
    embedder = load_embedder()
    vectors = embedder.embed_cached([p.prompt for p in points]) + embedder.embed_cached([p.answer for p in points])
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    vectors = neighbors.centered(vectors)
    _, found = neighbors.nearest(vectors, 10)
    rows = np.random.default_rng(0).choice(len(points), int(sys.argv[2]), replace=False)
    exact = vectors[rows] @ vectors.T
    exact[np.arange(len(rows)), rows] = -np.inf
    truth = np.argsort(-exact, axis=1)[:, :10]
    out["recall_at_10"] = float(np.mean([len(set(t) & set(found[r])) / 10 for t, r in zip(truth, rows)]))
    out["exact_rows_limit"] = neighbors.EXACT_ROWS
print("RESULT " + json.dumps(out))
"""


def run_child(data: Path, src: Path | None, timeout: float, recall_rows: int = 0, max_rss_gb: float = 0) -> dict:
    """One check in its own process: its result, or how far it came before the time or memory limit stopped it."""
    env = dict(os.environ, TQDM_DISABLE="1", TRANSFORMERS_VERBOSITY="error")
    if src is not None:
        env["PYTHONPATH"] = str(src)
    args = [sys.executable, "-c", CHILD, str(data)] + ([str(recall_rows)] if recall_rows else [])
    started = time.perf_counter()
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(args, env=env, stdout=out, stderr=err, text=True)
        peak, stopped = 0.0, None
        while child.poll() is None:
            peak = max(peak, _high_water_mb(child.pid))
            if time.perf_counter() - started > timeout:
                stopped = "timed_out_after_s"
            elif max_rss_gb and peak > max_rss_gb * 1024:
                stopped = "over_memory_after_s"
            if stopped:
                child.kill()
                child.wait()
                return {stopped: round(time.perf_counter() - started), "peak_rss_mb_so_far": round(peak),
                        "load_average": _spread(load)}
            load.append(os.getloadavg()[0])
            time.sleep(0.5)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    line = next((line for line in stdout.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        return {"error": (stderr or stdout)[-600:]}
    result = json.loads(line[len("RESULT "):])
    result.update(peak_rss_mb=max(result["peak_rss_mb"], peak), load_average=_spread(load))
    return result


def _high_water_mb(pid: int) -> float:
    """A process's resident-memory high-water mark (VmHWM) in MB, 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def _spread(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}"


def commit_of(tree: Path) -> str:
    """The short commit of a checkout, marked +changes where its tracked files differ from it."""
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(tree), "diff", "--quiet", "HEAD", "--", "src"]).returncode
    return head + ("+changes" if dirty else "")


def baseline_tree(ref: str, work: Path) -> Path:
    repo = Path(__file__).resolve().parents[1]
    tree = work / "baseline"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), ref], check=True,
                   capture_output=True)
    return tree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 40_000, 200_000, 1_000_000])
    parser.add_argument("--baseline-ref", help="A commit whose gate runs beside this one (git worktree).")
    parser.add_argument("--baseline-max", type=int, default=40_000)
    parser.add_argument("--baseline-timeout", type=float, default=900)
    parser.add_argument("--max-rss-gb", type=float, default=8.0, help="Stop a baseline check past this much memory.")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if not (SHARED / "support" / "bitext_customer_support.jsonl").is_file():
        print(f"needs the Bitext rows under {SHARED}/support", file=sys.stderr)
        return 2
    stored = args.out / "quality_scale.json"
    results = json.loads(stored.read_text()) if stored.is_file() else {}
    results.update(machine=f"{platform.machine()}, {os.cpu_count()} threads, {platform.processor() or ''}".strip(", "))
    results.setdefault("sizes", {})
    this_commit = commit_of(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree = baseline_tree(args.baseline_ref, work) if args.baseline_ref else None
        try:
            for n in args.sizes:
                data = work / f"rows{n}.jsonl"
                write_rows(n, data)
                from anchortune.app.datasets import MAX_ROWS
                from anchortune.quality.neighbors import EXACT_ROWS
                entry = {"this": run_child(data, None, 3600, 2000 if EXACT_ROWS < n <= MAX_ROWS else 0),
                         "commit": this_commit}
                if tree is not None and n <= args.baseline_max:
                    entry["baseline"] = run_child(data, tree / "src", args.baseline_timeout, 0, args.max_rss_gb)
                    entry["baseline_commit"] = commit_of(tree)
                results["sizes"][str(n)] = entry
                print(n, json.dumps(entry), flush=True)
        finally:
            if tree is not None:
                subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]), "worktree", "remove",
                                "--force", str(tree)], capture_output=True)
    results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda item: int(item[0])))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality_scale.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "quality_scale.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def _cell(result: dict | None, commit: str | None = None) -> str:
    if not result:
        return "not run"
    at = f" ({commit})" if commit else ""
    if "timed_out_after_s" in result or "over_memory_after_s" in result:
        why = "time limit" if "timed_out_after_s" in result else "memory limit"
        seconds = result.get("timed_out_after_s") or result.get("over_memory_after_s")
        return f"stopped by the {why} after {seconds} s, at {result['peak_rss_mb_so_far'] / 1024:.2f} GB{at}"
    if "error" in result:
        return "failed"
    return f"{result['check_s']:.0f} s, {result['peak_rss_mb'] / 1024:.2f} GB{at}"


def markdown(results: dict) -> str:
    base = results.get("baseline_ref")
    lines = ["# Quality gate cost against data size", "",
             f"Machine: {results['machine']}. Rows: Bitext support rows redrawn (see bench/quality_scale.py); "
             "time is the check alone (models loaded before), memory the check process's peak RSS. Rows measured "
             "in one run share a commit; the load average is the machine's while the check ran (other work on the "
             "2 cores slows it).", "",
             "| rows | this code: check time, peak memory | baseline: check time, peak memory |"
             " rows judged | HNSW recall@10 against exact | load average | verdict | findings |",
             "|---|---|---|---|---|---|---|---|"]
    for n, entry in results["sizes"].items():
        this = entry["this"]
        recall = f"{this['recall_at_10']:.3f}" if "recall_at_10" in this else \
            "exact search" if int(n) <= 50_000 else "as for the sample's size"
        found = ", ".join(f"{k} {v}" for k, v in sorted(this.get("findings", {}).items()))
        judged = f"{this['rows_judged']:,}" if "rows_judged" in this else f"{int(n):,}"
        load = " / ".join(r["load_average"] for r in (this, entry.get("baseline") or {}) if "load_average" in r)
        base_commit = entry.get("baseline_commit") or (base[:7] if base and entry.get("baseline") else None)
        lines.append(f"| {int(n):,} | {_cell(this, entry.get('commit'))} | "
                     f"{_cell(entry.get('baseline'), base_commit)} | {judged} | {recall} | "
                     f"{load or 'not recorded'} | {this.get('verdict', '')} | {found} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
