"""Runs as the shells and the studio's jobs reach them: train, evaluate, compare, export and adapt, each the entry
of its recipe (recipes/: one file per workflow, each a short script over a run session). Nothing is done here."""

from __future__ import annotations

from anchortune.evaluate.balance import general_summary  # noqa: F401  (for shells that show a run's progress)
from anchortune.recipes.adapt import adapt_run  # noqa: F401
from anchortune.recipes.evaluate import compare_on, evaluate_run  # noqa: F401
from anchortune.recipes.export import FORMATS, export_run, exports  # noqa: F401
from anchortune.recipes.task_run import RunOutcome, train_run  # noqa: F401
from anchortune.train.distributed import Launch  # noqa: F401  (the shells' name for a launch)
from anchortune.train.events import Event  # noqa: F401
