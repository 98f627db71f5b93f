"""Receipts the project has never seen: SROIE receipts 450-625, which `../shared/datasets/invoice` leaves out, built in
the shared file's format (id, ocr_text, fields) from a snapshot of the same source repository, for measuring the
quality gate on shops, layouts and phone numbers no rule was fitted on.

    python bench/sroie_unseen.py --git-dir <zzzDavid/ICDAR-2019-SROIE git dir> --out /tmp/sroie_unseen.jsonl

The source (zzzDavid/ICDAR-2019-SROIE @ 27be4271, data/box + data/key; repository MIT) is read with `git show`, the
output written outside the repository: third-party data is never copied into it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

FIRST_UNSEEN = 450  # the shared file holds receipts 000-449
COMMIT = "27be4271"


def show(git_dir: Path, path: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{COMMIT}:{path}"], check=True,
                          capture_output=True).stdout.decode("utf-8", "replace")


def receipt(git_dir: Path, receipt_id: str) -> dict:
    """One receipt as the shared file writes it: the boxes' texts in file order, one a line, and the key fields."""
    boxes = [line.split(",", 8)[8] for line in show(git_dir, f"data/box/{receipt_id}.csv").splitlines()
             if line.count(",") >= 8]
    fields = json.loads(show(git_dir, f"data/key/{receipt_id}.json"))
    return {"id": receipt_id, "ocr_text": "\n".join(b.strip() for b in boxes if b.strip()), "fields": fields}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git-dir", type=Path, required=True, help="the source repository's git directory")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    listing = subprocess.run(["git", f"--git-dir={args.git_dir}", "ls-tree", "--name-only", f"{COMMIT}:data/key"],
                             check=True, capture_output=True, text=True).stdout.split()
    ids = sorted(name.removesuffix(".json") for name in listing if name.endswith(".json"))
    unseen = [i for i in ids if int(i) >= FIRST_UNSEEN]
    rows = [receipt(args.git_dir, i) for i in unseen]
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(args.out)
    print(f"{len(rows)} receipts ({unseen[0]}-{unseen[-1]}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
