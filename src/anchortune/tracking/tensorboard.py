"""A run in TensorBoard, through PyTorch's own writer (torch.utils.tensorboard.SummaryWriter) into RUN/tensorboard/:
each step's scalars, and once the run is done the settings and final measures as TensorBoard's hyperparameters
(its HParams view), the verdicts and the run's Markdown report as text. `tensorboard --logdir runs/` shows every run.

A resumed run purges the steps after its checkpoint (the writer's `purge_step`), so the curves carry no step twice.
Knows nothing of training: tracking/__init__.py hands it the numbers and words of tracking/facts.py.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = "tensorboard"


class TensorBoardWriter:
    """One run's event files."""

    backend = "tensorboard"

    def __init__(self, run: Path, resumed_at: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.folder = Path(run) / FOLDER
        self.writer = SummaryWriter(log_dir=str(self.folder), purge_step=resumed_at + 1 if resumed_at else None,
                                    flush_secs=10)
        self.where = {"backend": self.backend, "folder": FOLDER}

    def metrics(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def finish(self, step: int, params: dict[str, str], metrics: dict[str, float], texts: dict[str, str],
               tags: dict[str, str], files: list[Path]) -> None:
        """Settings and final measures as hyperparameters (the measures also as scalars at the last step), the
        verdicts and tags as text, and the Markdown report (the HTML one cannot be shown as text)."""
        for name, text in {**texts, **{f"tag/{k}": v for k, v in tags.items()}}.items():
            self.writer.add_text(name, text, step)
        for path in files:
            if path.suffix == ".md" and path.is_file():
                self.writer.add_text(path.stem, path.read_text(encoding="utf-8"), step)
        self.writer.add_hparams(params, metrics, run_name=".", global_step=step)  # into this folder, not a new one
        self.writer.flush()

    def close(self, status: str) -> None:
        self.writer.close()
