"""Documents of another kind among receipts (quality/relevance.foreign_documents), measured on its own on receipts no
rule was fitted on: SROIE's test texts (task3/data/test_dict.pth of the same source repository: 347 OCR texts without
key fields, so the answers are empty and only this detector can be judged), less the texts that open like a receipt in
`../shared/datasets/invoice`; or any file of the shared format (--jsonl: id, ocr_text, fields).

Neighbouring documents are added at --rate, half written by injector c (bank statements, bills, payslips, airway
bills, hotel bookings), half by the fitting injector (menus, boarding passes, clinic slips, quotations...), for each of
--seeds; precision and recall of the detector's findings and the share of untouched receipts it flags.

    python bench/document_kinds.py --git-dir <zzzDavid/ICDAR-2019-SROIE git dir> [--first-line] [--out bench/results]
    python bench/document_kinds.py --jsonl ../shared/datasets/invoice/sroie_receipts.jsonl --part fit|held_out

The source is read with `git show` into a temporary file and loaded as plain tensors-free data (torch.load with
weights_only): third-party data is never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import quality_gate  # noqa: E402
import quality_inject_c  # noqa: E402
import quality_inject_fit  # noqa: E402

from anchortune import settings  # noqa: E402
from anchortune.data.records import AnchorPoint  # noqa: E402
from anchortune.quality import relevance  # noqa: E402

COMMIT = "27be4271"
KEYS = ["company", "date", "address", "total"]


def _opening(text: str) -> str:
    return re.sub(r"\W", "", text).casefold()[:200]


def test_texts(git_dir: Path, first_line: bool = False) -> list[tuple[str, str]]:
    """SROIE's test texts, less those that open like a shared receipt (the same receipt read twice). Their key fields
    are not published: answers are empty, or with `first_line` the text's first line stands in for the company (the
    detector leaves a row's own field words out, and the issuer's name is most of them)."""
    import torch

    blob = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{COMMIT}:task3/data/test_dict.pth"],
                          check=True, capture_output=True).stdout
    with tempfile.NamedTemporaryFile(suffix=".pth") as handle:
        handle.write(blob)
        handle.flush()
        texts = torch.load(handle.name, weights_only=True)
    shared_file = settings.shared_data() / "invoice" / "sroie_receipts.jsonl"
    shared = ({_opening(json.loads(line)["ocr_text"]) for line in shared_file.open(encoding="utf-8")}
              if shared_file.exists() else set())
    return [(text, json.dumps({"company": text.split("\n")[0]} if first_line else {}))
            for _, text in sorted(texts.items()) if _opening(text) not in shared]


def jsonl_texts(path: Path, part: str) -> list[tuple[str, str]]:
    """The receipts of `part` (quality_split), made clean as bench/quality_gate.py makes them."""
    return [(p.prompt, p.answer) for p in quality_gate.unique(quality_gate.load(path, part))]


def run(receipts: list[tuple[str, str]], rate: float, seed: int) -> dict:
    rng = random.Random(seed)
    rows = list(receipts)
    injected = set()
    count = max(2, round(rate * len(receipts)))
    for j in range(count):
        text, answer = (quality_inject_c._document(j % len(quality_inject_c._DOCUMENTS), KEYS, rng) if j % 2 == 0
                        else quality_inject_fit.make_off_task_json(rng))
        at = rng.randrange(len(rows) + 1)
        rows.insert(at, (text, answer))
        injected = {i + 1 if i >= at else i for i in injected} | {at}
    points = [AnchorPoint(({"role": "user", "content": t}, {"role": "assistant", "content": a}), i + 1)
              for i, (t, a) in enumerate(rows)]
    flagged = {f.line - 1 for f in relevance.foreign_documents(points)}
    hits = len(flagged & injected)
    return {"seed": seed, "rows": len(rows), "injected": len(injected), "found": hits,
            "false": len(flagged - injected), "untouched": len(receipts)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git-dir", type=Path, help="the SROIE source repository's git directory")
    parser.add_argument("--jsonl", type=Path, help="receipts in the shared file's format instead")
    parser.add_argument("--part", choices=quality_gate.PARTS, default="all",
                        help="with --jsonl: fit (the rows the rule was fitted on), held_out, or all")
    parser.add_argument("--first-line", action="store_true",
                        help="test texts: the first line stands in for the company field (else answers are empty)")
    parser.add_argument("--rate", type=float, default=0.03)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not (args.git_dir or args.jsonl):
        parser.error("give --git-dir or --jsonl")
    receipts = jsonl_texts(args.jsonl, args.part) if args.jsonl else test_texts(args.git_dir, args.first_line)
    name = f"{args.jsonl.name} (part {args.part})" if args.jsonl else ("SROIE test texts (task3/data/test_dict.pth), answers "
                                               + ("the first line as company" if args.first_line else "empty"))
    results = [run(receipts, args.rate, seed) for seed in range(args.seeds)]
    found = sum(r["found"] for r in results)
    false = sum(r["false"] for r in results)
    injected = sum(r["injected"] for r in results)
    untouched = sum(r["untouched"] for r in results)
    lines = [f"### {name}: {len(receipts)} receipts, {args.rate:.0%} neighbouring documents, {args.seeds} seeds",
             "", f"machine: {platform.processor() or platform.machine()}, DOCUMENT_FENCE {relevance.DOCUMENT_FENCE}",
             "", "| seed | rows | injected | found | untouched flagged |", "|---|---|---|---|---|"]
    lines += [f"| {r['seed']} | {r['rows']} | {r['injected']} | {r['found']} | {r['false']} |" for r in results]
    lines += ["", f"precision {found / max(1, found + false):.2f}, recall {found / max(1, injected):.2f}, "
              f"untouched flagged {false / max(1, untouched):.1%}", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "document_kinds.md").open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
