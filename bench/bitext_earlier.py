"""Support answers no rule of the gate has seen: Bitext's earlier wording of its sample (the August 2023 file, every
answer of which the source rewrote before the version `../shared/datasets/support` holds), in the shared file's
format, for the quality gate's final report (issue 36).

    python bench/bitext_earlier.py --git-dir <bitext/customer-support-llm-chatbot-training-dataset git dir> \\
        --out /tmp/bitext_earlier.jsonl [--rows 1000] [--seed 0]

Rows are kept whose answer is in neither later file (the shared one's source cf857859, whose withheld fifth
bench/bitext_unseen.py writes) and whose question is not in that withheld fifth (the gate's second development set):
the questions are the shared file's, the answers another wording. A seeded sample of --rows, each (question, answer)
once. The source (bitext/customer-support-llm-chatbot-training-dataset @ 7770c03,
data/train/Bitext_Sample_Customer_Support_Training_Dataset.csv; CDLA-Sharing-1.0) is read with `git show`; the output
is written outside the repository: third-party data is never copied into it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import subprocess
import sys
from pathlib import Path

from bitext_unseen import COMMIT as LATER, SHARED, SOURCE, key, once, write_rows

EARLIER = "7770c03"


def rows_at(git_dir: Path, commit: str) -> list[dict]:
    raw = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{SOURCE}"], check=True,
                         capture_output=True).stdout.decode("utf-8")
    return list(csv.DictReader(io.StringIO(raw)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    later = rows_at(args.git_dir, LATER)
    shared = [json.loads(line) for line in SHARED.open(encoding="utf-8")]
    shared_questions = {key(r["instruction"]) for r in shared}
    withheld = {key(r["instruction"]) for r in later} - shared_questions  # bench/bitext_unseen.py's questions
    known_answers = {key(r["response"]) for r in later} | {key(r["response"]) for r in shared}
    kept = once([r for r in rows_at(args.git_dir, EARLIER)
                 if key(r["response"]) not in known_answers and key(r["instruction"]) not in withheld])
    picked = list(kept)
    random.Random(args.seed).shuffle(picked)
    picked = picked[:args.rows]
    write_rows(picked, args.out)
    print(f"{len(picked)} rows of {len(kept)} with answers no later file holds -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
