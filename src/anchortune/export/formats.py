"""The export formats, declared once: each by its --format name, the module of this package that writes it, the
quantisations it takes and its default, the studio's download name, whether it writes a GGUF (which the parity
gate checks), and its words for --help. The command line, the studio's downloads and the export recipe
(recipes/export.py) read this list.

A new format is its module, with `export(source: Source, folder: Path, quant) -> dict` (write the format's files
into the empty `folder`; the fields it adds to the export's record, a GGUF it wrote named as `file`), plus one line
in FORMATS.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from anchortune.errors import ConfigError
from anchortune.export.gguf import QUANTS as GGUF_QUANTS
from anchortune.export.served import DTYPES


@dataclass(frozen=True)
class Source:
    """What an export writes from: the run's merged model, the name its files take, the task preset resolved as
    training resolved it (system prompt, user template, JSON fields), and the GGUF whose tokenizer a GGUF carries
    (None: the merged model's tokenizer.json)."""

    model_dir: Path
    name: str
    preset: object
    tokenizer_gguf: Path | None = None


@dataclass(frozen=True)
class Format:
    name: str
    module: str  # anchortune.export.<module> writes it
    quants: tuple[str, ...]
    default_quant: str | None  # None: as trained
    download: str  # the studio's download of it
    gguf: bool  # writes a GGUF: it carries the base model's GGUF tokenizer, export/parity.py checks it
    words: str  # what it is for, in --help

    def writer(self):
        return importlib.import_module(f"anchortune.export.{self.module}")


FORMATS = (
    Format("merged", "served", tuple(DTYPES), None, "served", False, "safetensors for transformers / vLLM"),
    Format("gguf", "gguf", GGUF_QUANTS, "q8_0", "gguf", True, "llama.cpp, LM Studio"),
    Format("ollama", "ollama", GGUF_QUANTS, "q8_0", "ollama", True, "GGUF + Modelfile"),
)
NAMES = tuple(f.name for f in FORMATS)


def get(name: str) -> Format:
    """The format called `name`; ConfigError naming the choices otherwise."""
    found = next((f for f in FORMATS if f.name == name), None)
    if found is None:
        raise ConfigError(f"--format {name!r} is not an export format: choose one of {', '.join(NAMES)}")
    return found
