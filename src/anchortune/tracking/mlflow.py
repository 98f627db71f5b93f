"""A run in MLflow, through MLflow's own client (mlflow.MlflowClient, told its tracking URI: no process-wide state,
so runs in the studio's threads each write their own): one MLflow run per anchortune run in the experiment
`anchortune-TASK`, named after the run folder (a studio job's id), live metrics at each logged step, and once done
the settings as params, the final measures as metrics, verdict words and the data's SHA-256 as tags, the verdict as
the run's description, and the run folder's report, card, summary and quality report as artifacts.

The default store is a SQLite file under the data folder (MLflow 3 keeps its file-system store in maintenance mode
and refuses it unless told otherwise); its artifacts lie beside it. A resumed anchortune run continues its MLflow run
(RUN/tracking.json names it). transformers' MLflowCallback is not used: it configures MLflow through environment
variables and the fluent API's global run, which two runs training at once in one process would share.
"""

from __future__ import annotations

import time
from pathlib import Path

BATCH = 100  # params per log_batch call (MLflow's limit)


def local_uri(data_dir: Path) -> str:
    """The default store: DATA/mlflow/mlflow.db."""
    return f"sqlite:///{(Path(data_dir) / 'mlflow' / 'mlflow.db').resolve()}"


class MlflowWriter:
    """One run's MLflow run."""

    backend = "mlflow"

    def __init__(self, uri: str, experiment: str, name: str, previous: dict | None = None):
        from mlflow import MlflowClient

        database = _sqlite_file(uri)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=uri)
        experiment_id = self._experiment(experiment, database)
        if previous and previous.get("backend") == self.backend and previous.get("run_id"):
            self.run_id = previous["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            self.run_id = self.client.create_run(experiment_id, run_name=name).info.run_id
        self.where = {"backend": self.backend, "experiment": experiment, "experiment_id": experiment_id,
                      "run_id": self.run_id}

    def _experiment(self, name: str, database: Path | None) -> str:
        """The experiment's id, created where missing (its artifacts beside a local SQLite store)."""
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = (database.parent / "artifacts").as_uri() if database is not None else None
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by a run in another thread or process
            return self.client.get_experiment_by_name(name).experiment_id

    def metrics(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def finish(self, step: int, params: dict[str, str], metrics: dict[str, float], texts: dict[str, str],
               tags: dict[str, str], files: list[Path]) -> None:
        from mlflow.entities import Param, RunTag

        items = list(params.items())
        for start in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=[Param(k, v[:6000]) for k, v in items[start:start + BATCH]])
        self.metrics(step, metrics)
        described = {**tags, "mlflow.note.content": texts.get("verdict", "")}
        self.client.log_batch(self.run_id, tags=[RunTag(k, v[:5000]) for k, v in described.items() if v])
        for name, text in texts.items():
            self.client.log_text(self.run_id, text, f"verdicts/{name}.txt")
        for path in files:
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a local SQLite store URI (sqlite:///PATH), else None."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri[len(prefix):] in ("", ":memory:"):
        return None
    return Path(uri[len(prefix):])
