"""The layout of a run folder and its small files: config.yaml, metrics.jsonl, summary.json, README.md.

    RUN/config.yaml       the resolved run config (enough to repeat the run)
    RUN/metrics.jsonl     one line per logged step: train loss, validation loss, learning rate, tokens/s
    RUN/checkpoints/      Trainer checkpoints (resume point)
    RUN/adapter/          PEFT adapter (LoRA runs)
    RUN/model/            merged model, loads with AutoModelForCausalLM.from_pretrained
    RUN/summary.json      data summary, losses, timings, sample answers
    RUN/README.md         model card
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from anchortune.config import RunConfig
from anchortune.errors import RunError


class RunFolder:
    """Paths of one run and the writes that go into it (each small file written atomically)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    checkpoints = property(lambda self: self.root / "checkpoints")
    summary = property(lambda self: self.root / "summary.json")
    card = property(lambda self: self.root / "README.md")
    model = property(lambda self: self.root / "model")

    def is_run(self) -> bool:
        return self.config.is_file()

    def is_fresh_target(self) -> bool:
        """True when a new run may start here: the folder is absent or empty."""
        return not self.root.exists() or not any(self.root.iterdir())

    def load_config(self) -> RunConfig:
        if not self.is_run():
            raise RunError(f"'{self.root}' is not a run folder (no config.yaml)")
        return RunConfig.load(self.config)

    def write_text(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; run files are for the team
        os.replace(tmp, path)

    def write_json(self, path: Path, value: dict) -> None:
        self.write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def append_metric(self, row: dict) -> None:
        with self.metrics.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def read_metrics(self) -> list[dict]:
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text(encoding="utf-8").splitlines() if line.strip()]

    def keep_metrics_until(self, step: int) -> None:
        """Drop metric rows after `step`, so a resumed run continues the curve without duplicates."""
        rows = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        self.write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in rows))

    def _checkpoint_dirs(self) -> list[Path]:
        return [p for p in self.checkpoints.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()]

    def last_checkpoint_step(self) -> int | None:
        """The newest complete checkpoint: the Trainer writes trainer_state.json last, so a save cut off
        by a crash (kill -9, power loss) has none and does not count."""
        steps = [int(p.name[11:]) for p in self._checkpoint_dirs() if (p / "trainer_state.json").is_file()]
        return max(steps) if steps else None

    def drop_incomplete_checkpoints(self) -> list[str]:
        """Remove checkpoints whose save was cut off, so resuming never starts from one; their names."""
        import shutil

        broken = [p for p in self._checkpoint_dirs() if not (p / "trainer_state.json").is_file()]
        for path in broken:
            shutil.rmtree(path, ignore_errors=True)
        return [p.name for p in broken]
