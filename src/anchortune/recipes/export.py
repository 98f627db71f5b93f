"""The export of a finished run for the tools people run models in: one workflow for the CLI, the studio and its API.

    merged   safetensors + tokenizer + chat template + generation config (transformers, vLLM, TGI load it as is)
    gguf     one GGUF file (llama.cpp, LM Studio, Ollama), f16 / bf16 / q8_0 / q4_k_m, with the parity gate
    ollama   the GGUF and a Modelfile: TEMPLATE, a stop per end token, the task's SYSTEM prompt

Each export is written to a hidden folder beside its target and renamed into place, so a failed export leaves
nothing. Its record (format, quantisation, files, the parity gate's findings, passed / failed / unchecked with
the reason, and its source: the run and the data it learned from, by SHA-256) goes into the export folder as
export.json and into the run's exports.json, newest last.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from anchortune.outputs import output_folder
from anchortune.errors import ConfigError, RunError
from anchortune.export import formats
from anchortune.run_folder import RunFolder

FORMATS = formats.FORMATS  # declared once (export/formats.py)
PARITY_PROMPTS = 10


def export_run(run: str | Path, fmt: str, quant: str | None = None, out: str | Path | None = None,
               data: str | Path | None = None, check: bool = True, prompts: int = PARITY_PROMPTS,
               tokenizer_gguf: str | Path | None = None) -> dict:
    """Export the run's merged model as `fmt` into `out` (default RUN/exports/FORMAT[-QUANT]); the record.

    A GGUF carries the tokenizer of `tokenizer_gguf`, by default the GGUF the base model was read from (the
    catalog's, or the user's .gguf file), so that llama.cpp tokenises as it did for the base model."""
    from anchortune.export import parity
    from anchortune.export.merge import atomic_dir

    folder = RunFolder(run)
    kind = formats.get(fmt)
    quant = quant or kind.default_quant
    if quant is not None and quant not in kind.quants:
        raise ConfigError(f"--quant must be one of {', '.join(kind.quants)} for --format {fmt}, not {quant!r}")
    if out is not None:
        output_folder(out, "--out")
    cfg = folder.check_finished()  # every part of the run looked at before any work
    exports(folder.root)  # and the record of earlier exports, which this one joins
    model_dir = folder.model
    if not (model_dir / "config.json").is_file():
        raise RunError(f"'{folder.root}' has no merged model (model/); the run did not finish")
    preset, held = _task(folder, cfg, data)
    target = Path(out) if out else folder.root / "exports" / (fmt + (f"-{quant}" if quant else ""))
    if out and target.exists() and any(target.iterdir()):  # the default folder is replaced by a new export
        raise RunError(f"'{target}' exists and is not empty; choose another --out")
    name = _slug(f"anchortune-{cfg.task}-{folder.root.resolve().name}")
    started = time.perf_counter()
    record: dict = {"format": fmt, "quant": quant, "run": str(folder.root), "status": "written",
                    "source": _source(folder)}
    tokenizer_from = (Path(tokenizer_gguf) if tokenizer_gguf else _source_gguf(cfg.model)) if kind.gguf else None
    with atomic_dir(target) as tmp:
        record.update(kind.writer().export(formats.Source(model_dir, name, preset, tokenizer_from), tmp, quant))
        if kind.gguf:
            if check:
                result = parity.check(tmp / record["file"], model_dir, [preset.to_messages(p) for p in held[:prompts]],
                                      quant)
                record["parity"] = result.to_json()
                record["status"] = {True: "passed", False: "failed", None: "unchecked"}[result.passed]
                record["reason"] = result.reason
            else:
                record.update(status="unchecked", reason="the parity gate was skipped (--no-check)")
        record["seconds"] = round(time.perf_counter() - started, 1)
        RunFolder(tmp).write_json(tmp / "export.json", record)
    record["folder"] = str(target)
    _remember(folder, record)
    return record


def exports(run: str | Path) -> list[dict]:
    """The run's export records, oldest first."""
    path = RunFolder(run).root / "exports.json"
    if not path.is_file():
        return []
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        records = None
    if not isinstance(records, list):
        raise RunError(f"'{path}' is damaged: expected the run's export records; restore or remove it")
    return records


def _source(folder: RunFolder) -> dict:
    """What the exported model came from: the run (its folder's name: a studio job's id), the data it learned from
    (tracking/lineage.py: file, SHA-256, rows, gate verdict, --fix changelog) and where the run is tracked."""
    from anchortune import tracking
    from anchortune.tracking import lineage

    return {"run": folder.root.resolve().name, **lineage.of_run(folder.root), "tracking": tracking.where(folder.root)}


def _remember(folder: RunFolder, record: dict) -> None:
    kept = [r for r in exports(folder.root) if r.get("folder") != record["folder"]]
    folder.write_json(folder.root / "exports.json", kept + [record])  # type: ignore[arg-type]


def _task(folder: RunFolder, cfg, data):
    """The task preset resolved as training resolved it, and the held-out anchor points (the run's validation
    split, or `data`)."""
    from anchortune.data.loading import CsvColumns, load_anchor_points
    from anchortune.data.presets import load_preset
    from anchortune.data.split import split

    source = Path(cfg.data)
    if not source.is_file():
        if data is None:
            raise RunError(f"the run's anchor points ({cfg.data}) are gone: the export needs them for the task's "
                           "system prompt and the held-out check; pass --data with the same file")
        source = Path(data)
    points = load_anchor_points(source, CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter))
    preset = load_preset(cfg.task).resolved_for(points)
    held = load_anchor_points(data) if data is not None else split(points, cfg.val_fraction, cfg.seed)[1]
    return preset, held


def _source_gguf(spec: str | None) -> Path | None:
    """The GGUF file a run's base model was read from, if it was."""
    from anchortune.models.catalog import CATALOG
    from anchortune.models.loading import DEFAULT_MODEL

    name = spec or DEFAULT_MODEL
    if name in CATALOG:
        return CATALOG[name].gguf_path()
    path = Path(name).expanduser()
    return path if path.is_file() and path.suffix.lower() == ".gguf" else None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "model"
