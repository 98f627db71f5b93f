"""Runs a team can compare and trace: experiment tracking, data lineage and comparison.

    tracking/__init__.py  `--track`: check the backend before any work (`require`), and one run's tracking (`track`):
                          the backend opened, the run's events passed on with their numbers logged, its facts logged
                          once it is done, the backend's run closed as finished, failed or killed
    tracking/facts.py     what is logged, the same for every backend
    tracking/tensorboard.py, tracking/mlflow.py   one writer per backend, through the library's own writer
    tracking/lineage.py   which anchor points a run learned from (SHA-256, rows, gate verdict, --fix changelog)
    tracking/compare.py   runs side by side

The backends are optional extras (`pip install 'anchortune[track]'`), imported only by a run that asks for one.
Tracking never stops a training: a backend that fails mid-run is reported once as a warning and left. Knows nothing
of training: it hears events (anything with `kind`, `step` and `data`) and reads the run folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from anchortune import settings
from anchortune.config import TRACKERS, RunConfig
from anchortune.errors import ConfigError, RunError
from anchortune.messages import say
from anchortune.run_folder import RunFolder
from anchortune.tracking import facts

BACKENDS = TRACKERS  # declared once (config.py)
PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # backend -> the module it needs
STATE = "tracking.json"  # in the run folder: where the run is tracked
FILES = ("report.html", "report.md", "README.md", "summary.json", "quality.json")  # the run's files logged as artifacts


def require(cfg: RunConfig) -> None:
    """ConfigError, before any work, when the asked backend is not installed or the tracking URI cannot be used."""
    if cfg.tracking_uri is not None and cfg.track != "mlflow":
        raise ConfigError(say("e_tracking_uri_not_mlflow"), param="tracking_uri")
    if cfg.track == "none":
        return
    if importlib.util.find_spec(PACKAGES[cfg.track]) is None:
        raise ConfigError(say("e_track_not_installed", backend=cfg.track), param="track")
    if cfg.tracking_uri is not None:
        parts = urlsplit(cfg.tracking_uri)
        if parts.password is not None or parts.username is not None:
            raise ConfigError(say("e_tracking_uri_credentials"), param="tracking_uri")


def mlflow_uri(given: str | None, data_dir: str | Path | None = None) -> str:
    """Where MLflow writes: the given URI, else MLFLOW_TRACKING_URI, else a SQLite store under the data folder."""
    from anchortune.tracking.mlflow import local_uri

    return given or settings.mlflow_tracking_uri() or local_uri(Path(data_dir) if data_dir else settings.studio_dir())


def where(run: str | Path) -> dict | None:
    """Where a run is tracked (RUN/tracking.json), None when it is not."""
    import json

    path = Path(run) / STATE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


Tell = Callable[[str, str], None]  # (event kind "info" or "warning", message)


def track(cfg: RunConfig, run: str | Path, resume: bool, tell: Tell, active: bool = True) -> "Tracked":
    """One run's tracking (a context: the backend's run ends as failed or killed when the block raises); a no-op
    where cfg.track is none or not `active` (a process that does not write the run folder)."""
    if not active or cfg.track == "none":
        return Tracked(None, tell, cfg)
    folder = RunFolder(run)
    if cfg.track == "tensorboard":
        from anchortune.tracking.tensorboard import TensorBoardWriter

        writer = TensorBoardWriter(folder.root, folder.last_checkpoint_step() if resume else None)
    else:
        from anchortune.tracking.mlflow import MlflowWriter

        try:
            writer = MlflowWriter(mlflow_uri(cfg.tracking_uri), f"anchortune-{cfg.task}", folder.root.resolve().name,
                                  where(folder.root) if resume else None)
        except Exception as exc:  # a server that cannot be reached, a store that cannot be opened
            raise RunError(say("e_tracking_start", backend=cfg.track, reason=_reason(exc))) from None
    folder.write_json(folder.root / STATE, writer.where)
    tracked = Tracked(writer, tell, cfg)
    tell("info", say("log_tracking_mlflow", name=writer.where["experiment"], id=writer.where["run_id"])
         if cfg.track == "mlflow" else say("log_tracking_tensorboard", file=writer.where["folder"]))
    return tracked


class Tracked:
    """A run's tracking: `sink(on_event)` passes the run's events on and logs each train and eval row; `finish`
    logs the finished run's facts and files; leaving the context closes the backend's run."""

    def __init__(self, writer, tell: Tell, cfg: RunConfig):
        self.writer, self.tell, self.cfg = writer, tell, cfg
        self.last_step = 0

    def sink(self, on_event):
        if self.writer is None:
            return on_event

        def record(event) -> None:
            on_event(event)
            values = facts.step_metrics(event.kind, event.data)
            if values and self.writer is not None:  # None: the backend failed earlier and was left
                self.last_step = max(self.last_step, event.step)
                self._safely(self.writer.metrics, event.step, values)

        return record

    def finish(self, summary: dict, run: str | Path) -> None:
        """Log the finished run: settings, final measures, verdicts, tags and the run folder's report files."""
        if self.writer is None or not summary:
            return
        step = (summary.get("training") or {}).get("steps") or self.last_step
        self._safely(self.writer.finish, step, facts.params(self.cfg.model_dump(), summary),
                     facts.final_metrics(summary), facts.verdicts(summary), facts.tags(summary),
                     [Path(run) / name for name in FILES])

    def _safely(self, action, *args) -> None:
        """Do a backend's write; a failure is said once as a warning and tracking stops (the training goes on)."""
        try:
            action(*args)
        except Exception as exc:
            self.tell("warning", say("log_tracking_stopped", backend=self.cfg.track, reason=_reason(exc)))
            self._close("FAILED")
            self.writer = None

    def _close(self, status: str) -> None:
        try:
            self.writer.close(status)
        except Exception:  # noqa: BLE001  (closing is best effort; the run's own outcome stands)
            pass

    def __enter__(self) -> "Tracked":
        return self

    def __exit__(self, kind, exc, trace) -> None:
        if self.writer is not None:
            self._close("FINISHED" if kind is None else "FAILED" if issubclass(kind, Exception) else "KILLED")
            self.writer = None


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
