"""What a tracked run tells its tracker, the same for every backend: each logged step's numbers, and once the run is
done its settings (the run config, the data's lineage, the engine plan), its final measures (held-out loss, general
ability, the task metric, the gate's scores, the guard's choice) and its verdicts in words.

Names are the backends' keys: `train/loss`, `eval/valid_loss`, `task_metric/tuned`, `gate/relevance`, ...; a value
that is None or not finite is left out. Reads a run's events and its summary (summary.json); writes nothing.
"""

from __future__ import annotations

import math

STEP = {  # event kind -> (event field -> metric name)
    "train": {"train_loss": "train/loss", "learning_rate": "train/learning_rate", "tokens_per_s": "train/tokens_per_s"},
    "eval": {"valid_loss": "eval/valid_loss", "probe_loss": "eval/style_loss", "drift": "eval/style_drift",
             "text_loss": "eval/general_text_loss", "text_drift": "eval/general_text_drift",
             "cloze_accuracy": "eval/cloze_accuracy", "cloze_drop": "eval/cloze_drop"},
}
UNLOGGED = ("data", "valid_data", "tracking_uri", "track")  # paths, where the run is tracked: not settings


def step_metrics(kind: str, data: dict) -> dict[str, float]:
    """The metrics of one train or eval event (empty for any other kind)."""
    return _numbers({name: data.get(key) for key, name in STEP.get(kind, {}).items()})


def params(config: dict, summary: dict | None = None) -> dict[str, str]:
    """The run's settings as text: every config option by name (its data files by lineage instead of path) and,
    once the run is done, its data's lineage, the task metric's name and the engine that ran it."""
    out = {k: str(v) for k, v in config.items() if k not in UNLOGGED and v is not None}
    if not summary:
        return out
    lineage = summary.get("lineage") or {}
    data, gate, fix = lineage.get("data") or {}, lineage.get("gate") or {}, lineage.get("fix") or {}
    training = summary.get("training") or {}
    engine = training.get("engine") or {}
    more = {"data/file": data.get("file"), "data/sha256": data.get("sha256"), "data/rows": data.get("rows"),
            "validation/file": (lineage.get("validation") or {}).get("file"),
            "validation/sha256": (lineage.get("validation") or {}).get("sha256"),
            "gate/verdict": gate.get("verdict"), "fix/changelog": fix.get("changelog"), "fix/sha256": fix.get("sha256"),
            "task_metric": (summary.get("answers") or {}).get("metric"), "training/precision": training.get("precision"),
            "training/kernels": training.get("kernels"), "engine/path": engine.get("path"),
            **{f"engine/{part}": p.get("path") for part, p in (engine.get("parts") or {}).items()}}
    return out | {k: str(v) for k, v in more.items() if v is not None}


def final_metrics(summary: dict) -> dict[str, float]:
    """The run's final measures: held-out and general-ability losses of base and tuned model, the task metric of
    tuned, base and the trivial baseline, the gate's scores, the guard's choice (step, adapter scale, balance)."""
    losses, training = summary.get("losses") or {}, summary.get("training") or {}
    answers = summary.get("answers") or {}
    chosen = (summary.get("balance") or {}).get("chosen") or {}
    gate = ((summary.get("lineage") or {}).get("gate") or {}).get("scores") or {}
    values = {"final/base_valid_loss": losses.get("base_valid"), "final/tuned_valid_loss": losses.get("tuned_valid"),
              "final/base_general_text_loss": losses.get("base_text"),
              "final/tuned_general_text_loss": losses.get("tuned_text"),
              "final/base_cloze_accuracy": losses.get("base_cloze"),
              "final/tuned_cloze_accuracy": losses.get("tuned_cloze"),
              "final/base_style_loss": losses.get("base_probe"), "final/tuned_style_loss": losses.get("tuned_probe"),
              "task_metric/tuned": answers.get("tuned"), "task_metric/base": answers.get("base"),
              "task_metric/baseline": (answers.get("baseline") or {}).get("score"),
              "guard/chosen_step": training.get("best_step"), "guard/adapter_scale": training.get("adapter_scale"),
              "guard/balance": chosen.get("balance"), "guard/gain": chosen.get("gain"),
              "guard/retention": chosen.get("retention"), "training/tokens_per_s": training.get("tokens_per_s"),
              **{f"gate/{name}": score for name, score in gate.items()}}
    return _numbers(values)


def verdicts(summary: dict) -> dict[str, str]:
    """The run's verdicts in words: the verdict (on the held-out answers, else the guard's), the guard's choice and
    diagnosis, the gate's verdict with its reasons."""
    diagnosis = (summary.get("balance") or {}).get("diagnosis")
    verdict = summary.get("verdict") or diagnosis
    training, quality = summary.get("training") or {}, summary.get("quality") or {}
    out = {}
    if verdict:
        out["verdict"] = f"{verdict['verdict']}: {verdict['reason']}. {verdict.get('advice', '')}".strip()
    guard = f"chosen: {training.get('checkpoint') or training.get('best_step')}, adapter scale " \
            f"{training.get('adapter_scale', 1.0)}"
    out["guard"] = guard + (f"; {diagnosis['verdict']}: {diagnosis['reason']}" if diagnosis else "")
    if quality:
        scores = ", ".join(f"{k} {v}" for k, v in (quality.get("scores") or {}).items())
        out["gate"] = f"{quality.get('verdict')} ({scores}); " + "; ".join(quality.get("reasons") or [])
    return out


def tags(summary: dict) -> dict[str, str]:
    """Short labels to find and filter runs by: verdict words, the data's SHA-256, task, base model."""
    diagnosis = (summary.get("balance") or {}).get("diagnosis") or {}
    verdict = summary.get("verdict") or diagnosis
    lineage = summary.get("lineage") or {}
    values = {"verdict": verdict.get("verdict"), "guard_verdict": diagnosis.get("verdict"),
              "gate_verdict": (lineage.get("gate") or {}).get("verdict"),
              "data_sha256": (lineage.get("data") or {}).get("sha256"), "task": summary.get("task"),
              "base_model": summary.get("base_model")}
    return {k: str(v) for k, v in values.items() if v is not None}


def _numbers(values: dict) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        out[key] = float(value)
    return out
