"""Runs as the shells and the studio's jobs reach them: train, evaluate, compare, export and adapt, each the entry
of its recipe (recipes/: one file per workflow, each a short script over a run session). Nothing is done here but
the choice of the training recipe: a run config's objective names it (supervised: the task run; dpo or orpo: the
preference run; reinforcement: the reinforcement run)."""

from __future__ import annotations

from pathlib import Path

from anchortune.config import RunConfig
from anchortune.evaluate.balance import general_summary  # noqa: F401  (for shells that show a run's progress)
from anchortune.evaluate.graders import read_file as read_grader  # noqa: F401  (--grader FILE.json)
from anchortune.recipes.adapt import adapt_run  # noqa: F401
from anchortune.recipes.evaluate import compare_on, evaluate_run  # noqa: F401
from anchortune.recipes.export import FORMATS, export_run, exports  # noqa: F401
from anchortune.recipes.task_run import RunOutcome  # noqa: F401
from anchortune.run_folder import RunFolder
from anchortune.train.distributed import Launch  # noqa: F401  (the shells' name for a launch)
from anchortune.train.events import Event, EventSink, ignore  # noqa: F401


def train_run(cfg: RunConfig, out: str | Path, resume: bool = False, on_event: EventSink = ignore,
              force: bool = False, quality: dict | None = None, launch=None) -> RunOutcome:
    """Train into `out` with the recipe of the run's objective (a resumed run's: the one its folder stores):
    recipes/task_run.py for anchor points (tool-calling conversations included), recipes/preference_run.py for
    preference pairs (DPO, ORPO), recipes/reinforce_run.py for anchor points graded by a grader (reinforcement)."""
    from anchortune.recipes import preference_run, reinforce_run, task_run

    folder = RunFolder(out)
    objective = (folder.load_config() if resume and folder.is_run() else cfg).objective
    if objective == "reinforcement":
        return reinforce_run.train_reinforcement(cfg, out, resume, on_event, force, quality)
    if objective != "supervised":
        return preference_run.train_preference(cfg, out, resume, on_event, force, quality)
    return task_run.train_run(cfg, out, resume, on_event, force, quality, launch)
