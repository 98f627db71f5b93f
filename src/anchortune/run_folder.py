"""The layout of a run folder and its small files: config.yaml, metrics.jsonl, summary.json, README.md.

    RUN/config.yaml       the resolved run config (enough to repeat the run)
    RUN/metrics.jsonl     one line per logged step: train loss, validation loss, learning rate, tokens/s
    RUN/checkpoints/      Trainer checkpoints (resume point)
    RUN/adapter/          PEFT adapter (LoRA runs)
    RUN/model/            merged model, loads with AutoModelForCausalLM.from_pretrained
    RUN/summary.json      data summary, losses, timings, sample answers
    RUN/README.md         model card
    RUN/data/             the anchor points the run was trained on, copied in: config.yaml names them relative
                          to the folder, so a moved or copied run still reads them
                          with the `--fix` changelog a training file came out of (FILE.changelog.jsonl beside it)
    RUN/sha256.json       config.yaml and data/ sealed by their SHA-256 (a damaged or edited one is told apart)
    RUN/tracking.json     where `--track` writes the run (tracking/): TensorBoard's RUN/tensorboard/, or MLflow's run

Every JSON file is written strictly (a NaN or infinity becomes null), and every file atomically. `check_finished`
looks at every part a finished run holds (config, merged model, adapter, tokenizer, data) without loading a model,
so that a reading command names the broken file before any minutes of work.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

from anchortune import scratch
from anchortune.config import RunConfig
from anchortune.errors import RunError
from anchortune.messages import json_kind

DATA_FIELDS = ("data", "valid_data")  # the config's anchor-point files, copied into RUN/data/
CHANGELOG = ".changelog.jsonl"  # `check --fix OUT` writes OUT's changelog beside it as OUT-STEM + CHANGELOG
SEAL = "sha256.json"  # config.yaml and the copied anchor points, by their SHA-256
WEIGHTS = (".safetensors", ".bin")


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
        """The run's config, its anchor-point files named by where they lie now (inside the folder, when the run
        copied them in); RunError naming config.yaml when it is missing or damaged."""
        if not self.root.exists():
            raise RunError(f"'{self.root}' does not exist; expected the folder of a run (`anchortune train --out`)")
        if not self.is_run():
            raise RunError(f"'{self.root}' is not a run folder (no config.yaml)")
        cfg = RunConfig.load(self.config)
        inside = {f: str(self.root / v) for f in DATA_FIELDS
                  if (v := getattr(cfg, f)) and not Path(v).is_absolute() and (self.root / v).is_file()}
        return cfg.model_copy(update=inside)

    def write_text(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with scratch.pending(tmp):
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.chmod(tmp, 0o644)  # mkstemp makes it private; run files are for the team
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def write_json(self, path: Path, value: dict | list) -> None:
        self.write_text(path, json_text(value, indent=2) + "\n")

    def append_metric(self, row: dict) -> None:
        with self.metrics.open("a", encoding="utf-8") as handle:
            handle.write(json_text(row) + "\n")

    def write_config(self, cfg: RunConfig) -> RunConfig:
        """Start a run's folder: its anchor-point files (and the training file's --fix changelog) copied into data/,
        config.yaml naming them relative to the folder, and sha256.json sealing both (a truncated or edited config, a
        changed copy, is then told apart from the run's own); the config as written."""
        updates, sealed = {}, {}
        for field in DATA_FIELDS:
            source = getattr(cfg, field)
            if source is None:
                continue
            name = f"data/{Path(source).name}"
            if name in sealed:  # training and validation files of the same name from two folders
                name = f"data/{field}-{Path(source).name}"
            sealed[name] = _copy(Path(source), self.root / name)
            updates[field] = name
            changelog = changelog_of(Path(source))
            if field == "data" and changelog.is_file():  # the --fix changelog the anchor points came out of
                sealed[str(changelog_of(Path(name)))] = _copy(changelog, changelog_of(self.root / name))
        kept = cfg.model_copy(update=updates)
        self.write_text(self.config, kept.dump())
        sealed[self.config.name] = sha256(self.config)
        self.write_json(self.root / SEAL, sealed)
        return kept

    def check_finished(self) -> RunConfig:
        """The run's config once every part a finished run holds has been looked at, without loading a model:
        config.yaml and the anchor points copied in (against sha256.json), the merged model (config, complete
        weights, tokenizer) and the adapter where there is one. RunError naming the first missing or damaged file,
        and what to do."""
        cfg = self.load_config()
        seal = self.root / SEAL
        if seal.exists():
            sealed = _json_file(seal)
            if not isinstance(sealed, dict):
                raise _damaged(seal, f"expected file names and their SHA-256, found {json_kind(sealed)}")
            for name, digest in sealed.items():
                path = self.root / str(name)
                if not path.resolve().is_relative_to(self.root.resolve()):
                    raise _damaged(seal, f"it names '{name}', outside the run folder")
                if not path.is_file() or sha256(path) != digest:
                    raise _damaged(path, f"it is missing or changed since the run wrote it (its SHA-256 differs "
                                         f"from {SEAL})")
        _check_model_folder(self.model, "model/config.json", "merged model")
        adapter = self.root / "adapter"
        if adapter.exists():  # evaluation reads it over the base model; the other readers take the merged model
            _check_model_folder(adapter, "adapter/adapter_config.json", "LoRA adapter")
        return cfg

    def read_metrics(self) -> list[dict]:
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text(encoding="utf-8").splitlines() if line.strip()]

    def keep_metrics_until(self, step: int) -> None:
        """Drop metric rows after `step`, so a resumed run continues the curve without duplicates."""
        rows = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        self.write_text(self.metrics, "".join(json_text(r) + "\n" for r in rows))

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


def changelog_of(data: Path) -> Path:
    """The `--fix` changelog written beside a cleaned file of anchor points (it need not exist)."""
    return data.with_name(data.stem + CHANGELOG)


def json_text(value, indent: int | None = None) -> str:
    """JSON every reader takes: a NaN or an infinity (a diverged loss, the mean of nothing) is written as null."""
    return json.dumps(_finite(value), indent=indent, ensure_ascii=False, allow_nan=False)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _copy(source: Path, target: Path) -> str:
    """Copy a file atomically, hashing it on the way; its SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    digest = hashlib.sha256()
    with scratch.pending(tmp):
        try:
            with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    dst.write(chunk)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest.hexdigest()


def sha256(path: Path) -> str:
    """A file's SHA-256 in hex (what `sha256sum` prints), read in pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _damaged(path: Path, why: str) -> RunError:
    return RunError(f"'{path}' is damaged: {why}; restore the file or train the run again")


def _json_file(path: Path):
    """The JSON value of a run's file, or RunError naming it."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _damaged(path, f"not readable JSON ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") \
            from None


def _check_model_folder(folder: Path, config_name: str, what: str) -> None:
    """A saved model or adapter folder: its config, every JSON file readable, complete weights, a tokenizer."""
    config = folder.parent / config_name
    if not folder.is_dir() or not config.is_file():
        raise RunError(f"'{folder.parent}' has no {what} ({config_name} is missing): the run did not finish or was "
                       "damaged; `anchortune train --resume` completes an unfinished run")
    for path in sorted(folder.glob("*.json")):
        value = _json_file(path)
        if not isinstance(value, dict):
            raise _damaged(path, f"expected a JSON object, found {json_kind(value)}")
    if folder.name == "model" and not isinstance(_json_file(config).get("model_type"), str):
        raise _damaged(config, "it names no model_type")
    weights = [p for p in folder.iterdir() if p.suffix in WEIGHTS]
    if not weights:
        raise RunError(f"'{folder}' holds no weights (*.safetensors): the run did not finish or was damaged; train "
                       "it again")
    for path in weights:
        if path.suffix == ".safetensors" and (why := _safetensors_problem(path)):
            raise _damaged(path, why)
    template = folder / "chat_template.jinja"
    if template.is_file():
        _check_template(template)
    if folder.name == "model" and not any((folder / n).is_file() for n in ("tokenizer.json", "tokenizer.model")):
        raise RunError(f"'{folder}' has no tokenizer (tokenizer.json): restore it or train the run again")


def _safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file cannot be whole (cut off, padded, a header that does not parse), or None: its size
    must be what its header announces."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if size < 8 or length == 0 or length > size - 8:
                return f"cut off ({size:,} bytes; its header does not fit)"
            header = json.loads(handle.read(length))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        return f"its header is not readable ({type(exc).__name__})"
    if 8 + length + end != size:
        return f"{size:,} bytes where its header announces {8 + length + end:,}: cut off or overwritten"
    return None


def _check_template(path: Path) -> None:
    from jinja2 import Environment, TemplateError

    try:
        Environment(extensions=["jinja2.ext.loopcontrols"]).parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TemplateError) as exc:
        raise _damaged(path, f"not a readable chat template ({exc})") from None
