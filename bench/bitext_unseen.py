"""Support rows the project has never seen: the fifth of Bitext's sample that `../shared/datasets/support` withholds
(rows of the source whose question and answer the shared file does not hold), written in the shared file's format for
the quality gate's bench; with --held-out-categories only those of the held-out part (bench/quality_split.py).

    python bench/bitext_unseen.py --git-dir <bitext/customer-support-llm-chatbot-training-dataset git dir> \
        --out /tmp/bitext_unseen.jsonl [--held-out-categories]

The source (bitext/customer-support-llm-chatbot-training-dataset @ cf857859,
data/train/Bitext_Sample_Customer_Support_Training_Dataset.csv, the shared file's own source; CDLA-Sharing-1.0) is read with
`git show`; the output is written outside the repository: third-party data is never copied into it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from quality_split import FIT_CATEGORIES

COMMIT = "cf857859"
SOURCE = "data/train/Bitext_Sample_Customer_Support_Training_Dataset.csv"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "support" / "bitext_customer_support.jsonl"


def key(text: str) -> str:
    return " ".join(text.casefold().split())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--held-out-categories", action="store_true")
    args = parser.parse_args()
    raw = subprocess.run(["git", f"--git-dir={args.git_dir}", "show", f"{COMMIT}:{SOURCE}"], check=True,
                         capture_output=True).stdout.decode("utf-8")
    seen = [json.loads(line) for line in SHARED.open(encoding="utf-8")]
    known = {key(r["instruction"]) for r in seen} | {key(r["response"]) for r in seen}
    rows = [r for r in csv.DictReader(io.StringIO(raw))
            if (not args.held_out_categories or r["category"] not in FIT_CATEGORIES) and key(r["instruction"]) not in known
            and key(r["response"]) not in known]
    picked = once(rows)
    write_rows(picked, args.out)
    print(f"{len(picked)} unseen rows -> {args.out}")
    return 0


def once(rows: list[dict]) -> list[dict]:
    """Each (question, answer) once: the source repeats some rows."""
    firsts: dict[tuple[str, str], dict] = {}
    for r in rows:
        firsts.setdefault((key(r["instruction"]), key(r["response"])), r)
    return list(firsts.values())


def write_rows(rows: list[dict], out: Path) -> None:
    """The rows in the shared file's fields, written whole or not at all."""
    fields = ("instruction", "response", "intent", "category")
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps({f: r[f] for f in fields}, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    tmp.replace(out)


if __name__ == "__main__":
    sys.exit(main())
