"""Turning a model name into weights on disk and in memory.

A model is named by catalog name, local Hugging Face folder, local `.gguf` file, run folder or hub
id (online only). GGUF weights are dequantised once into a cached safetensors folder: transformers'
Trainer refuses a model still flagged GGUF-quantised, and a safetensors load is fast. The dequantisation runs in a
child process (its memory and the GGUF reader's progress bar stay out of this one). transformers is quietened once,
when this module is imported (libraries.py), never around a load. Knows nothing about tasks or training.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from anchortune import libraries, prepared, settings
from anchortune.errors import ModelError
from anchortune.models.catalog import CATALOG, DEFAULT_MODEL

libraries.configure()

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def resolve_model(spec: str | None, prepare: bool = True) -> Path | str:
    """A folder that `from_pretrained` loads offline, or a hub id when online; ModelError otherwise."""
    spec = spec or DEFAULT_MODEL
    if spec in CATALOG:
        return prepare_catalog_model(spec) if prepare else CATALOG[spec].prepared_dir()
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "model" / "config.json").is_file():
        return path / "model"
    if path.is_dir() and (path / "config.json").is_file():
        return path
    if path.is_file() and path.suffix.lower() == ".gguf":
        return prepare_gguf_file(path)
    looks_like_hub_id = spec.count("/") == 1 and not spec.startswith((".", "/", "~")) and not path.exists()
    if looks_like_hub_id and not settings.hub_offline():
        return _hub_model(spec)
    tried = [f"catalog name (known: {', '.join(CATALOG)})",
             f"local folder '{path}' ({'has no config.json' if path.is_dir() else 'not found'})",
             f"local .gguf file ({'not a .gguf file' if path.is_file() else 'not found'})"]
    if looks_like_hub_id:
        tried.append("hub id (HF_HUB_OFFLINE is set)")
    raise ModelError(f"model '{spec}' not found; tried {'; '.join(tried)}")


def _hub_model(spec: str) -> Path | str:
    """A hub id: the id itself where the hub answers (transformers downloads or revalidates it), its cached snapshot
    where it does not (a machine offline loads what it has); a ModelError at once, not after a minute of the hub
    client's retries, where neither."""
    from huggingface_hub import constants, snapshot_download

    reachable, why = hub_reachable(constants.ENDPOINT)
    if reachable:
        return spec
    try:
        cached = Path(snapshot_download(spec, local_files_only=True))
    except Exception:  # noqa: BLE001 - not in the cache, whichever way the client says so
        cached = None
    if cached is not None and (cached / "config.json").is_file():
        return cached
    raise ModelError(f"model '{spec}' is a hub id, but the hub ({constants.ENDPOINT}) cannot be reached from this "
                     f"machine ({why}) and the model is not in its hub cache: connect the machine once to download "
                     "it, or name a catalog model, a local folder or a .gguf file")


def hub_reachable(endpoint: str, timeout: float = 3.0) -> tuple[bool, str]:
    """(True, "") when a TCP connection to the hub's host opens within `timeout` seconds; else (False, why)."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, exc.strerror or type(exc).__name__


def prepare_catalog_model(name: str) -> Path:
    """The cached safetensors folder of a built-in model, preparing it from its GGUF on first use."""
    entry = CATALOG[name]
    if entry.is_prepared():
        return entry.prepared_dir()
    gguf = entry.gguf_path()
    if gguf is None:
        raise ModelError(f"model '{name}' is not installed: run `{entry.install}`")
    return _convert_gguf(gguf, entry.prepared_dir())


def prepare_gguf_file(path: Path) -> Path:
    """The cached safetensors folder for a user's .gguf file, keyed by its name, size and head bytes."""
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    key = hashlib.sha256(head + str(path.stat().st_size).encode()).hexdigest()[:12]
    target = settings.models_dir() / f"{path.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    return _convert_gguf(path, target)


def _convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantise a GGUF into a plain float32 model and save it with its tokenizer, atomically, in a child process
    (`dequantise`)."""
    return prepared.prepare(target, "import sys; from anchortune.models.loading import dequantise; "
                                    "dequantise(sys.argv[2], sys.argv[1])", [gguf], f"could not prepare '{gguf}'",
                            ModelError)


def dequantise(gguf: str | Path, folder: str | Path) -> None:
    """The GGUF's weights as a plain float32 model, saved with its tokenizer into `folder` (the child's work)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict(), strict=False)
    plain.tie_weights()
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHATML_TEMPLATE
    plain.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def load_tokenizer(source: Path | str):
    """The tokenizer with a pad token and a chat template, whatever the checkpoint shipped."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)  # never run a repo's code
    except Exception as exc:  # transformers raises many kinds here
        raise ModelError(f"could not load a tokenizer from '{source}': {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def load_model(source: Path | str, dtype=None):
    """The causal LM in float32 (autocast decides compute precision), in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with libraries.BUILDING:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or torch.float32,
                                                         attn_implementation="sdpa", trust_remote_code=False)
    except Exception as exc:
        raise ModelError(f"could not load model from '{source}': {exc}") from exc
    model.eval()
    return model


def load_tuned(run_root: Path, base_source: Path | str):
    """A run's tuned model for evaluation: its adapter over the base model where the run saved one, else
    its merged model.

    The adapter over the base scores what training measured, and differs from the base by the adapter
    alone; the merged export, rounded to bf16 as one matrix under autocast, loses part of the small adapter
    delta (0.4 % higher held-out loss on SmolLM2-135M, bench/train_throughput.py)."""
    adapter = Path(run_root) / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        return load_model(Path(run_root) / "model")
    from peft import PeftModel

    try:
        with libraries.BUILDING:
            model = PeftModel.from_pretrained(load_model(base_source), str(adapter))
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"could not load the adapter in '{adapter}': {exc}") from exc
    model.eval()
    return model


def load_checkpoint(checkpoint: Path, base_source: Path | str):
    """A training checkpoint for conversation: the LoRA adapter saved there over the base model, or a full
    fine-tune's weights."""
    checkpoint = Path(checkpoint)
    if not (checkpoint / "adapter_config.json").is_file():
        return load_model(checkpoint)
    from peft import PeftModel

    try:
        with libraries.BUILDING:
            model = PeftModel.from_pretrained(load_model(base_source), str(checkpoint))
    except Exception as exc:
        raise ModelError(f"could not load the checkpoint '{checkpoint.name}': {exc}") from exc
    model.eval()
    return model

