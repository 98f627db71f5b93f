"""Saving a trained model: the PEFT adapter and a merged model that plain transformers loads.

Each folder is written beside its target and renamed into place, so a failed save leaves no half
folder. Knows nothing about training or tasks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from anchortune import libraries, scratch

libraries.configure()  # transformers draws no progress bars while a model is saved (libraries.py)


@contextmanager
def atomic_dir(target: Path):
    """Yield a temporary folder that replaces `target` only when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    tmp.chmod(0o755)
    try:
        with scratch.pending(tmp):  # removed even if the process is ended mid-write (cli/stopping.py)
            yield tmp
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_outputs(model, tokenizer, run_dir: Path, scale: float = 1.0) -> dict[str, Path]:
    """adapter/ (LoRA runs) and model/ (merged, full precision safetensors) with the tokenizer.

    With an adapter scale below 1 (the balance sweep), the merged model carries the scaled adapter
    and the saved adapter's lora_alpha is scaled to match, so both reproduce the chosen blend."""
    saved: dict[str, Path] = {}
    is_peft = hasattr(model, "merge_and_unload")
    if is_peft:
        with atomic_dir(run_dir / "adapter") as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            if scale != 1.0:
                _scale_alpha(tmp / "adapter_config.json", scale)
        saved["adapter"] = run_dir / "adapter"
        merged = model.merge_and_unload()
    else:
        merged = model
    trained_without = merged.config.use_cache  # training turns the cache off; whoever loads the model generates
    merged.config.use_cache = True
    try:
        with atomic_dir(run_dir / "model") as tmp:
            merged.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
    finally:
        merged.config.use_cache = trained_without
    saved["model"] = run_dir / "model"
    return saved


def _scale_alpha(config_file: Path, scale: float) -> None:
    import json

    config = json.loads(config_file.read_text())
    config["lora_alpha"] = config["lora_alpha"] * scale
    config_file.write_text(json.dumps(config, indent=2))
