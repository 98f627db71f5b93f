"""The merged model as serving tools read it: safetensors, tokenizer, chat template and generation config.

A run's `model/` folder is what transformers 5 wrote while training. Serving stacks (vLLM, TGI, LM Studio's
MLX and transformers 4.x) read the same files with older readers, so the exported copy
- drops the private keys transformers left in config.json (`_model_name_or_path`, `_from_model_config`) and sets
  `use_cache` back on (training turns it off);
- writes `torch_dtype` beside `dtype` and `rope_theta` beside `rope_parameters`, the names 4.x reads;
- names the tokenizer class `PreTrainedTokenizerFast` (5.x writes `TokenizersBackend`, which 4.x lacks) and drops
  the loader's own keys (`backend`, `is_local`, `local_files_only`);
- carries the chat template both as chat_template.jinja and inside tokenizer_config.json;
- lists every end token (the tokenizer's and the chat's end-of-turn markers) in generation_config.json, so a
  server stops where training taught the model to stop.
Optionally the weights are cast to f16 or bf16. Nothing here reads anchortune's own files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from anchortune import libraries
from anchortune.errors import RunError

DTYPES = {"f16": "float16", "bf16": "bfloat16"}
_LOADER_KEYS = ("backend", "is_local", "local_files_only")


def export(source, folder: Path, quant: str | None = None) -> dict:
    """The merged format (export/formats.py): the serving copy of the run's merged model written into `folder`."""
    return write(source.model_dir, folder, quant)


def write(model_dir: Path, target: Path, quant: str | None = None) -> dict:
    """The serving copy of `model_dir` written into the (empty, existing) folder `target`; what it holds."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if quant is not None and quant not in DTYPES:
        raise RunError(f"a merged export is stored as f16, bf16 or the model's own dtype, not {quant!r}; "
                       "quantised weights are what --format gguf writes")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if quant is None:
        for name in model_dir.iterdir():
            if name.suffix in (".safetensors", ".json") and name.name.startswith("model"):
                shutil.copy2(name, target / name.name)
    else:
        with libraries.BUILDING:  # transformers sets the process's default dtype while it loads
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, DTYPES[quant]))
        model.save_pretrained(target, safe_serialization=True)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if quant is not None:
        config["dtype"] = DTYPES[quant]
    (target / "config.json").write_text(json.dumps(serving_config(config), indent=2) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(target)
    template = tokenizer.chat_template
    if not template:
        raise RunError(f"{model_dir} has no chat template; a served model needs one to frame conversations")
    (target / "chat_template.jinja").write_text(template, encoding="utf-8")
    tok_config = json.loads((target / "tokenizer_config.json").read_text(encoding="utf-8"))
    for key in _LOADER_KEYS:
        tok_config.pop(key, None)
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_config["chat_template"] = template
    (target / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")
    stops = end_tokens(tokenizer, model_dir)
    generation = _read(model_dir / "generation_config.json")
    generation = {k: v for k, v in generation.items() if not k.startswith("_")}
    generation.update({"eos_token_id": [i for i, _ in stops], "bos_token_id": config.get("bos_token_id"),
                       "pad_token_id": tokenizer.pad_token_id, "do_sample": False})
    (target / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n", encoding="utf-8")
    return {"files": sorted(p.name for p in target.iterdir()), "end_tokens": [t for _, t in stops],
            "dtype": config.get("dtype")}


def serving_config(config: dict) -> dict:
    """config.json without transformers' private keys, with the names older readers look for."""
    clean = {k: v for k, v in config.items() if not k.startswith("_")}
    clean["use_cache"] = True
    if "dtype" in clean:
        clean["torch_dtype"] = clean["dtype"]
    rope = clean.get("rope_parameters")
    if isinstance(rope, dict) and "rope_theta" in rope and "rope_theta" not in clean:
        clean["rope_theta"] = rope["rope_theta"]
    return clean


def end_tokens(tokenizer, model_dir: Path | None = None) -> list[tuple[int, str]]:
    """(id, text) of every token that ends an answer: the tokenizer's EOS, the generation config's and the chat
    end-of-turn markers the vocabulary has."""
    ids = {tokenizer.eos_token_id}
    if model_dir is not None:
        configured = _read(model_dir / "generation_config.json").get("eos_token_id")
        ids.update(configured if isinstance(configured, list) else [configured])
    template = tokenizer.chat_template or ""
    for marker in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>"):
        token = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token, int) and token != tokenizer.unk_token_id and marker in template:
            ids.add(token)
    return sorted((i, tokenizer.convert_ids_to_tokens(i)) for i in ids if i is not None)


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
