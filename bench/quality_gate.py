"""Quality-gate benchmark: inject each defect at a known rate into clean real data, measure what the gate finds.

    python bench/quality_gate.py DATA --task T [--rate 0.03] [--seed 0] [--injector a,b,c] [--no-labels]
                                 [--part fit|held_out|all] [--out bench/results]

DATA is an anchor-point file, or SROIE receipts (`ocr_text` + `fields`, turned into text -> JSON).
Each injected row is remembered with its defect; a finding counts as correct when its line, or a
line it names as related (the original of a copy), carries that defect. Reports precision and
recall per defect for each injector (a: `inject` below; b: bench/quality_inject_b.py, written apart from a and
from the gate: other typo model, surface variants, answers of other intents, no labels; c: bench/quality_inject_c.py,
written from issue 36's table without reading the gate: synonym rewordings, fact-flip contradictions, rows of a
neighbouring domain, short answers in other languages, a person's data on receipts; fit: bench/quality_inject_fit.py,
the injector the gate's rules of issue 36 were tuned with, on the `fit` part only), the share of untouched rows
flagged at warning level or above, and throughput (examples/s) with model, tokenizer and embedder load time apart.
--part picks the rows (bench/quality_split.py): the gate's thresholds were fitted on `fit`; `held_out` is data they
never saw. Output: JSON + Markdown per run.
"""

from __future__ import annotations

import argparse
import json
import re
import platform
import random
import string
import sys
import time
from pathlib import Path

from anchortune import settings
from anchortune.app import datasets as app_datasets
from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.quality.text import normalise

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_inject_b import inject_b  # noqa: E402  (the second injector, written apart from `inject`)
from quality_inject_c import inject_c  # noqa: E402  (the third, written from issue 36 without reading the gate)
from quality_split import PARTS, part_lines  # noqa: E402



def load(path: Path, part: str = "all") -> list[AnchorPoint]:
    """The rows of `path` in `part` (quality_split: fit, held_out or all)."""
    lines = part_lines(path, part)
    first = json.loads(path.open(encoding="utf-8").readline())
    if "ocr_text" in first:
        rows = [json.loads(l) for l in path.open(encoding="utf-8")]
        return [AnchorPoint(({"role": "user", "content": r["ocr_text"]},
                             {"role": "assistant", "content": json.dumps(r["fields"], ensure_ascii=False)}), i)
                for i, r in enumerate(rows, 1) if i in lines]
    return [p for p in app_datasets.read_anchor_points(path) if p.line in lines]


LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


def unique(points: list[AnchorPoint]) -> list[AnchorPoint]:
    """The base made clean of what the bench injects, by rules independent of the gate: rows repeated
    up to case, spacing and punctuation are kept once, and every run of 13-19 digits (a payment card
    number or anything shaped like one; SROIE prints two real card numbers) becomes {{Number}}. Then
    every duplicate and card number in the test is an injected one."""
    seen, out = set(), []
    for point in points:
        key = (normalise(point.prompt), normalise(point.answer))
        if key in seen:
            continue
        seen.add(key)
        messages = tuple({**m, "content": LONG_NUMBER.sub("{{Number}}", m["content"])} for m in point.messages)
        out.append(AnchorPoint(messages, len(out) + 1, point.label))
    return out


def off_task_pool(shared: Path, task_format: str) -> list[tuple[str, str]]:
    """Rows from other domains: general-knowledge questions (and, for JSON tasks, support questions)."""
    pool = []
    for line in (shared / "general" / "mmlu_val.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        pool.append((row["question"], row["choices"]["ABCD".index(row["answer"])]))
    if task_format == "json":
        bitext = [json.loads(l) for l in (shared / "support" / "bitext_customer_support.jsonl").open(encoding="utf-8")]
        pool = [(r["instruction"], r["response"]) for r in bitext[:500]]
    return pool


def typo(text: str, rng: random.Random, edits: int = 1) -> str:
    chars = list(text)
    for _ in range(edits):
        positions = [i for i, c in enumerate(chars) if c.isalpha()]
        if not positions:
            break
        i = rng.choice(positions)
        chars[i] = rng.choice(string.ascii_lowercase)
    return "".join(chars)


def noisy_answer(answer: str, fmt: str, rng: random.Random) -> str:
    """The answer with two typos; in a JSON answer, in one of its text values (as OCR noise would)."""
    if fmt != "json":
        return typo(answer, rng, 2)
    fields = json.loads(answer)
    key = rng.choice([k for k, v in fields.items() if isinstance(v, str) and any(c.isalpha() for c in v)])
    fields[key] = typo(fields[key], rng, 2)
    return json.dumps(fields, ensure_ascii=False)


def garble(rng: random.Random) -> str:
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9)))
                    for _ in range(rng.randint(8, 30)))


DOCUMENT_PII = ["Paid with card 4111 1111 1111 1111 exp 04/28", "CARD NO: 5500 0000 0000 0004",
                "API key sk-live-A1b2C3d4E5f6G7h8I9j0K1l2M3n4", "Amex 3782 822463 10005 approved"]
PII = ["Please write to {name}.{surname}@example.com for details.", "My IBAN is DE89 3704 0044 0532 0130 00.",
       "Card number 4111 1111 1111 1111, expiry 04/28.", "Use key sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4 to log in.",
       "Contact: {name}.{surname}@mail.example.org", "Pay to IBAN GB29 NWBK 6016 1331 9268 19 today.",
       "Charge it to 5500 0000 0000 0004 please."]


KEEP = object()


def with_answer(point: AnchorPoint, answer: str, prompt: str | None = None, label=KEEP) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt if prompt is not None else point.prompt},
                        {"role": "assistant", "content": answer}), 0, point.label if label is KEEP else label)


def inject(points: list[AnchorPoint], fmt: str, rate: float, seed: int, shared: Path, keep_labels: bool = True
           ) -> tuple[list[AnchorPoint], dict[int, str], set[int]]:
    """The data with defects: (rows renumbered 1..n, {line: defect}, lines of originals that were copied).

    A contradiction copies a row's prompt (one typo) with another row's answer, and that row's label
    (as when a row is pasted in with the wrong question); --no-labels measures free text alone."""
    rng = random.Random(seed)
    base = list(points)
    count = max(5, round(rate * len(base)))
    kinds = ["exact_duplicate", "near_duplicate", "contradiction", "off_task", "unclear_answer", "personal_data"]
    if fmt == "json":
        kinds.append("invalid_output")
    rows = [(p, None, None, i) for i, p in enumerate(base)]  # (point, defect, copied base index, base index)
    extra = []
    modified: set[int] = set()  # a row is changed once, and a copied row is never changed
    copied: set[int] = set()
    pool = off_task_pool(shared, fmt)
    for kind in kinds:
        for _ in range(count):
            i = rng.choice([k for k in range(len(base)) if k not in modified and k not in copied])
            src = base[i]
            if kind in ("exact_duplicate", "near_duplicate", "contradiction"):
                copied.add(i)
            if kind == "exact_duplicate":
                extra.append((src, kind, i, None))
            elif kind == "near_duplicate":
                extra.append((with_answer(src, noisy_answer(src.answer, fmt, rng), typo(src.prompt, rng, 1)), kind, i,
                              None))
            elif kind == "contradiction":
                other = rng.choice([p for p in base if p.label != src.label or p.label is None])
                answer = other.answer
                if fmt == "json":
                    fields, theirs = json.loads(src.answer), json.loads(other.answer)
                    fields.update({k: theirs[k] for k in ("total", "date") if k in theirs})
                    answer = json.dumps(fields, ensure_ascii=False)
                label = other.label if keep_labels else None
                extra.append((with_answer(src, answer, typo(src.prompt, rng, 1), label), kind, i, None))
            elif kind == "off_task":
                prompt, answer = pool.pop(rng.randrange(len(pool)))
                extra.append((with_answer(src, answer, prompt), kind, None, None))
            else:
                modified.add(i)
                rows[i] = (_modified(src, kind, fmt, rng), kind, None, i)
    for row in extra:
        rows.insert(rng.randrange(len(rows) + 1), row)
    line_of_base = {row[3]: n for n, row in enumerate(rows, start=1) if row[3] is not None}
    out = [AnchorPoint(point.messages, n, point.label) for n, (point, _, _, _) in enumerate(rows, start=1)]
    defects = {n: kind for n, (_, kind, _, _) in enumerate(rows, start=1) if kind}
    partners = {line_of_base[source] for _, _, source, _ in rows if source is not None}
    return out, defects, partners


def _modified(src: AnchorPoint, kind: str, fmt: str, rng: random.Random) -> AnchorPoint:
    if kind == "unclear_answer":
        if rng.random() < 0.5:
            return with_answer(src, "")
        if fmt == "json":
            noisy = {k: "".join(rng.choice("#@!%^&*~|<>?$") for _ in range(8)) for k in json.loads(src.answer)}
            return with_answer(src, json.dumps(noisy))
        return with_answer(src, garble(rng))
    if kind == "personal_data":
        pool = DOCUMENT_PII if fmt == "json" else PII  # invoices carry their vendor's e-mail and IBAN by nature
        text = rng.choice(pool).format(name=rng.choice(["anna", "jonas", "li"]), surname=rng.choice(["meyer", "tan"]))
        if fmt == "json":
            return with_answer(src, src.answer, src.prompt + "\n" + text)
        return with_answer(src, src.answer + " " + text)
    cut = rng.randint(5, max(6, len(src.answer) // 2))  # invalid_output: the JSON cut short
    return with_answer(src, src.answer[:cut])

INJECTORS = {"a": inject, "b": inject_b, "c": inject_c}
try:  # the injector the gate's issue-36 rules were fitted with (measured for reference; never the acceptance)
    from quality_inject_fit import inject_fit
    INJECTORS["fit"] = inject_fit
except ImportError:
    pass


def score(report, defects: dict[int, str], partners: set[int], n: int) -> dict:
    """Per defect T: precision over T-findings on rows that are clean or carry T (a T-finding on a row
    injected with another defect is counted apart, as a cross-flag), recall over rows injected with T."""
    results = {}
    for kind in sorted(set(defects.values())):
        all_found = [f for f in report.findings if f.code == kind and f.at_least("warning")]
        injected = {line for line, k in defects.items() if k == kind}
        found = [f for f in all_found if defects.get(f.line, kind) == kind or injected & set(f.related)]
        correct = [f for f in found if f.line in injected or injected & set(f.related)]
        covered = {l for l in injected if any(f.line == l or l in f.related for f in found)}
        results[kind] = {"injected": len(injected), "flagged": len(found), "cross_flags": len(all_found) - len(found),
                         "precision": len(correct) / len(found) if found else 0.0,
                         "recall": len(covered) / len(injected) if injected else 0.0}
    untouched = [l for l in range(1, n + 1) if l not in defects and l not in partners]
    flagged = report.flagged_lines("warning")
    false_rows = [l for l in untouched if l in flagged]
    return {"per_defect": results, "untouched_rows": len(untouched), "untouched_flagged": len(false_rows),
            "untouched_flagged_share": len(false_rows) / max(1, len(untouched)),
            "untouched_flag_codes": sorted({f.code for f in report.findings if f.line in set(false_rows)})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="?", default=Path("-"))
    parser.add_argument("--task", default="support")
    parser.add_argument("--rate", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-inject", action="store_true", help="Only measure throughput on the data as it is.")
    parser.add_argument("--no-labels", action="store_true", help="Drop labels/intents: judge free text alone.")
    parser.add_argument("--injector", default="a,b,c",
                        help="comma-separated: a (below), b (quality_inject_b.py), c (quality_inject_c.py), fit.")
    parser.add_argument("--description", default=None, help="The task description a user would give (--description).")
    parser.add_argument("--part", choices=PARTS, default="all",
                        help="fit: the rows the gate's rules were fitted on; held_out: rows they never saw (quality_split).")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--summary", action="store_true", help="Only write quality_gate.md from the stored runs.")
    args = parser.parse_args()
    if args.summary:
        print(summary(args.out))
        return 0
    if not args.data.is_file():
        print(f"skipped: {args.data} not found")
        return 0
    from anchortune.models.loading import load_tokenizer, resolve_model
    from anchortune.quality.embeddings import load_embedder, load_judge
    from anchortune.quality.gate import check

    preset = load_preset(args.task)
    clean = unique(load(args.data, args.part))
    if args.no_labels:
        clean = [AnchorPoint(p.messages, p.line) for p in clean]
    resolved = preset.resolved_for(clean)
    started = time.perf_counter()
    embedder = load_embedder()
    judge = load_judge()
    tokenizer = load_tokenizer(resolve_model(None))
    load_seconds = time.perf_counter() - started
    embedder.embed_cached = embedder.embed  # measure embedding work, not the cache
    for name in args.injector.split(","):
        points, defects, partners = (clean, {}, set()) if args.no_inject else INJECTORS[name](
            clean, preset.output.format, args.rate, args.seed, settings.shared_data())
        started = time.perf_counter()
        report = check(points, resolved, embedder, tokenizer, resolved.hyperparameters.max_length,
                       declared_labels=list(preset.output.labels), judge=judge, description=args.description)
        seconds = time.perf_counter() - started
        import torch

        result = {"data": args.data.name + (" (labels dropped)" if args.no_labels else ""), "task": args.task,
                  "part": args.part, "injector": "none" if args.no_inject else name, "rows": len(points),
                  "clean_rows": len(clean),
                  "rate": args.rate, "seed": args.seed,
                  "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
                  "load_seconds": round(load_seconds, 2), "check_seconds": round(seconds, 2),
                  "examples_per_second": round(len(points) / seconds, 1), "verdict": report.verdict,
                  "scores": report.scores, **({} if args.no_inject else score(report, defects, partners, len(points)))}
        if args.no_inject:
            result["findings"] = _finding_counts(report)
        args.out.mkdir(parents=True, exist_ok=True)
        stem = (f"quality_gate_{args.data.stem}" + ("_no_labels" if args.no_labels else "")
                + ("_clean" if args.no_inject else f"_{name}") + (f"_{args.part}" if args.part != "all" else ""))
        (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / f"{stem}.md").write_text(markdown(result))
        print(markdown(result))
        if args.no_inject:
            break
    return 0


def summary(out: Path) -> str:
    """One table of every run stored in `out` (fit part first, then held-out and unseen data), written to
    quality_gate.md: per defect precision / recall, and the untouched rows flagged."""
    runs = [json.loads(p.read_text()) for p in sorted(out.glob("quality_gate_*.json"))]
    runs = [r for r in runs if "per_defect" in r or "findings" in r]
    order = {"fit": 0, "held_out": 1, "all": 2}
    runs.sort(key=lambda r: (order.get(r.get("part", "all"), 3), r["data"], r["injector"]))
    lines = ["# Quality gate: every run, fit part first", "",
             "Thresholds were fitted on the `fit` part (bench/quality_split.py) with injectors a, b and `fit`. The "
             "`held_out` part was then a second development set (first round of issue 36), `bitext_unseen` (the "
             "withheld fifth of Bitext, bench/bitext_unseen.py) a third (second round: the coherent minority of a "
             "neighbouring domain); no support row the gate never saw is left (the source's earlier wording has 27 "
             "distinct answers, one an intent). `sroie_unseen` receipts (bench/sroie_unseen.py) were fitted on in two "
             "places: personal data's trunk-zero rule, and the fence of the document-kind rule (its petrol-kiosk "
             "receipts were looked at); SROIE's test texts, never used to fit, judge that rule alone "
             "(document_kinds.md: no key fields are published for them). "
             "Injector c was written from issue 36 without reading the gate. Third round (2026-12-07): two changes "
             "of logic, each found on the fit part (copies of an off-task row are off task too; the data's stock "
             "words do not make a rewording a template filled for another request), then the held-out part and "
             "bitext_unseen rerun. The check seconds of the support runs of that round were measured beside a "
             "training run on the same 2 cores. P / R per defect at warning level or "
             "above; a flag on a row injected with another defect is not counted against precision.", "",
             "| data | part | injector | rows | defects: precision / recall | untouched rows flagged | check s |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        per = "; ".join(f"{k} {m['precision']:.2f} / {m['recall']:.2f}" for k, m in r.get("per_defect", {}).items())
        untouched = (f"{r['untouched_flagged']} of {r['untouched_rows']} ({r['untouched_flagged_share']:.1%})"
                     if "untouched_rows" in r else
                     f"clean data: {sum(v for c in r['findings'].values() for s, v in c.items() if s != 'info')} "
                     f"warnings in {r['rows']} rows")
        lines.append(f"| {r['data']} | {r.get('part', 'all')} | {r['injector']} | {r['rows']} | {per or '-'} | "
                     f"{untouched} | {r['check_seconds']} |")
    text = "\n".join(lines) + "\n"
    (out / "quality_gate.md").write_text(text)
    return text


def _finding_counts(report) -> dict:
    """Findings on the data as it is, per code and severity (what a user sees on clean data)."""
    counts: dict[str, dict[str, int]] = {}
    for f in report.findings:
        counts.setdefault(f.code, {}).setdefault(f.severity, 0)
        counts[f.code][f.severity] += 1
    return counts


def markdown(r: dict) -> str:
    lines = [f"# Quality gate on {r['data']} ({r['task']}, part {r.get('part', 'all')}), injector "
             f"{r.get('injector', 'a')}: {r['rows']} rows", "",
             f"Machine: {r['machine']}. Check {r['check_seconds']} s = {r['examples_per_second']} examples/s; "
             f"model, tokenizer and embedder load {r['load_seconds']} s apart. Verdict {r['verdict']}, scores {r['scores']}.", ""]
    if "per_defect" in r:
        lines += ["| defect | injected | flagged | precision | recall | also flagged on rows with another defect |",
                  "|---|---|---|---|---|---|"]
        for kind, m in r["per_defect"].items():
            lines.append(f"| {kind} | {m['injected']} | {m['flagged']} | {m['precision']:.2f} | {m['recall']:.2f} "
                         f"| {m['cross_flags']} |")
        lines += ["", f"Untouched rows flagged at warning or above: {r['untouched_flagged']} of {r['untouched_rows']} "
                      f"({r['untouched_flagged_share']:.1%}); codes: {', '.join(r['untouched_flag_codes']) or 'none'}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
