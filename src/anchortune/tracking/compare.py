"""Finished runs side by side: data version (file, SHA-256, rows, gate verdict, --fix changelog), settings (and
which of them differ), curves (training and validation loss per step), the task metric with its difference against
the first run, general ability, and the verdicts. Reads run folders only; the command line and the studio show it.
"""

from __future__ import annotations

import json
from pathlib import Path

from anchortune.errors import ConfigError, RunError
from anchortune.messages import say
from anchortune.run_folder import RunFolder
from anchortune.tracking import facts, lineage, where


def compare(runs: list[str | Path], names: list[str] | None = None) -> dict:
    """The runs in `runs` (named by `names`, default their paths as given) side by side; the first is the reference
    each task metric's difference is taken against (None across different metrics)."""
    if len(runs) < 2:
        raise ConfigError(say("e_compare_two", n=len(runs)))
    names = names or [str(r) for r in runs]
    rows = [_run(Path(run), name) for run, name in zip(runs, names)]
    first = rows[0]["task_metric"]
    for row in rows:
        mine = row["task_metric"]
        comparable = mine["metric"] == first["metric"] and None not in (mine["tuned"], first["tuned"])
        mine["difference"] = mine["tuned"] - first["tuned"] if comparable else None
    keys = [k for k in rows[0]["settings"] if len({json.dumps(r["settings"].get(k)) for r in rows}) > 1]
    return {"runs": rows, "settings_differ": keys, "same_data": len({r["data"]["sha256"] for r in rows}) == 1}


def _run(path: Path, name: str) -> dict:
    folder = RunFolder(path)
    cfg = folder.load_config()  # RunError naming the folder when it is no run
    if not folder.summary.is_file():
        raise RunError(say("e_compare_unfinished", name=name))
    summary = json.loads(folder.summary.read_text(encoding="utf-8"))
    found = lineage.of_run(path)
    metrics = folder.read_metrics()
    losses, training, answers = summary.get("losses") or {}, summary.get("training") or {}, summary.get("answers") or {}
    diagnosis = (summary.get("balance") or {}).get("diagnosis") or {}
    verdict = summary.get("verdict") or diagnosis
    return {
        "name": name, "data": found["data"], "validation": found.get("validation"), "gate": found.get("gate"),
        "fix": found.get("fix"),
        "settings": {k: v for k, v in cfg.model_dump().items() if k not in facts.UNLOGGED},
        "curves": {"train": [[r["step"], r["train_loss"]] for r in metrics if r.get("train_loss") is not None],
                   "valid": [[r["step"], r["valid_loss"]] for r in metrics if r.get("valid_loss") is not None]},
        "losses": {"base_valid": losses.get("base_valid"), "tuned_valid": losses.get("tuned_valid")},
        "task_metric": {"metric": answers.get("metric"), "tuned": answers.get("tuned"), "base": answers.get("base"),
                        "baseline": (answers.get("baseline") or {}).get("score")},
        "general": {"base_text": losses.get("base_text"), "tuned_text": losses.get("tuned_text"),
                    "base_cloze": losses.get("base_cloze"), "tuned_cloze": losses.get("tuned_cloze")},
        "verdict": {"verdict": verdict.get("verdict"), "reason": verdict.get("reason"),
                    "guard": diagnosis.get("verdict")},
        "checkpoint": training.get("checkpoint"), "steps": training.get("steps"),
        "tracking": where(folder.root),
    }
