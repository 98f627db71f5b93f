"""Writing a merged model as one GGUF file, and reading back what a GGUF carries for chat.

The writer is llama.cpp's own converter (`convert_hf_to_gguf.py` with its `conversion` package and `gguf-py`),
taken at set-up from the pinned llama-cpp-python source release on PyPI (`make export-tools`), so that every model
family llama.cpp knows is written the way llama.cpp reads it: the tensor layout per architecture, the tokenizer and
its pre-tokenizer, the special tokens and the chat template. It runs in a child process on this environment's
Python. f16, bf16 and q8_0 come straight from the converter; q4_k_m is quantised from the f16 file by llama.cpp's
`llama_model_quantize`, through llama-cpp-python where it is installed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from anchortune import settings
from anchortune.errors import RunError

CONVERTER_QUANTS = ("f16", "bf16", "q8_0")
QUANTS = CONVERTER_QUANTS + ("q4_k_m",)
_Q4_K_M = 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M in llama.h


def converter() -> Path:
    """llama.cpp's convert_hf_to_gguf.py, or RunError saying how to install it."""
    script = settings.llama_cpp_dir() / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise RunError(f"llama.cpp's GGUF converter is not installed ({script} not found); run `make export-tools`, "
                       "or set ANCHORTUNE_LLAMA_CPP to a llama.cpp source folder")
    return script


def export(source, folder: Path, quant: str) -> dict:
    """The gguf format (export/formats.py): one GGUF of the run's merged model at `quant` in `folder`, carrying the
    tokenizer of the GGUF the base model came from where there is one; the record's fields."""
    converter()  # RunError naming the set-up step before any work
    file = write(source.model_dir, folder / f"{source.name}-{quant}.gguf", quant, source.name, source.tokenizer_gguf)
    return {"tokenizer_from": source.tokenizer_gguf.name if source.tokenizer_gguf else
            "the merged model's tokenizer.json", "file": file.name,
            "gguf": {k: v for k, v in metadata(file).items() if k != "chat_template"}}


def write(model_dir: Path, target: Path, quant: str, name: str, tokenizer_from: Path | None = None) -> Path:
    """`target` (a .gguf file) written from the merged model folder at `quant`, carrying the tokenizer of the
    GGUF `tokenizer_from` where the base model came from one; atomic: a failed conversion leaves nothing."""
    if quant not in QUANTS:
        raise RunError(f"unknown GGUF quantisation {quant!r}; choose one of {', '.join(QUANTS)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".gguf.") as tmp:
        first = Path(tmp) / ("model-f16.gguf" if quant == "q4_k_m" else target.name)
        _convert(model_dir, first, "f16" if quant == "q4_k_m" else quant, name)
        if tokenizer_from is not None:
            adopt_tokenizer(first, tokenizer_from)
        if quant == "q4_k_m":
            quantised = Path(tmp) / target.name
            quantise(first, quantised, _Q4_K_M)
            first = quantised
        match_training_framing(first)
        first.replace(target)
    return target


def adopt_tokenizer(path: Path, source: Path) -> None:
    """Replace the tokenizer a GGUF carries by the one of the GGUF the base model came from, keeping the chat
    template: llama.cpp then tokenises exactly as it did for the base model. A base model read from GGUF has only
    the tokenizer.json transformers made of it, which the converter may match to another family's pre-tokenizer
    (Gemma 3's matches granite-embed-multi-311m, a Gemma 4 style that forces a BOS training never saw); the source
    GGUF's own SentencePiece vocabulary is llama.cpp's native one.

    Spliced byte for byte (`_layout`): the exported file's fields in their order with each tokenizer.ggml.* field
    taken from the source (dropped where the source has none, the source's others after them), then the exported
    tensor infos and tensor data as they are (their offsets count from the data section, which starts at the next
    alignment boundary). Written into a sibling file, then renamed over `path`."""
    import shutil
    import struct

    exported, original = _layout(path), _layout(source)
    prefix = "tokenizer.ggml."
    theirs = {f.key: f for f in original.fields if f.key.startswith(prefix)}
    rows = next((t.dims[-1] for t in exported.tensors if t.name == "token_embd.weight"), None)
    tokens = theirs[prefix + "tokens"].count if prefix + "tokens" in theirs else None
    if tokens is None or rows is None or int(rows) != tokens:
        raise RunError(f"the base model's GGUF {source.name} has {tokens} tokens, the exported model {rows}: its "
                       "tokenizer cannot be carried over")
    kept = [(path, f) if not f.key.startswith(prefix) else (source, theirs.pop(f.key)) for f in exported.fields
            if not f.key.startswith(prefix) or f.key in theirs]
    kept += [(source, f) for f in theirs.values()]
    staged = path.with_name(path.name + ".tok")
    with open(path, "rb") as mine, open(source, "rb") as other, open(staged, "wb") as out:
        files = {path: mine, source: other}
        out.write(b"GGUF" + struct.pack("<IQQ", exported.version, len(exported.tensors), len(kept)))
        for where, field in kept:
            files[where].seek(field.start)
            out.write(files[where].read(field.end - field.start))
        mine.seek(exported.infos[0])
        out.write(mine.read(exported.infos[1] - exported.infos[0]))
        out.write(b"\0" * (-out.tell() % exported.alignment))
        mine.seek(exported.data)
        shutil.copyfileobj(mine, out, 1 << 24)
    staged.replace(path)


def match_training_framing(path: Path) -> bool:
    """Training renders the chat template and tokenises it without adding special tokens, so a prompt starts with
    BOS only where the template writes it. A GGUF whose tokenizer says add_bos_token (Gemma's does) would make
    llama.cpp, Ollama and LM Studio put one more token in front of every prompt than training did: the flag's byte is
    turned off in place (as gguf-py's gguf_set_metadata does). True when it changed."""
    scalars, _ = _scan(path)
    found = scalars.get("tokenizer.ggml.add_bos_token")
    if found is None or not found[0]:
        return False
    with open(path, "r+b") as file:
        file.seek(found[1])
        file.write(b"\x00")
    return True


def _convert(model_dir: Path, out: Path, outtype: str, name: str) -> None:
    command = [sys.executable, str(converter()), str(model_dir), "--outtype", outtype, "--outfile", str(out),
               "--model-name", name]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise RunError(f"llama.cpp's converter could not write {outtype} GGUF from {model_dir}:\n{tail}")


def quantise(source: Path, target: Path, ftype: int) -> None:
    """llama.cpp's quantiser through llama-cpp-python (RunError naming the install step where it is absent)."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise RunError("q4_k_m needs llama.cpp's quantiser from llama-cpp-python, which is not installed here; "
                       "run `make export-tools` (it compiles llama.cpp), or export q8_0") from exc
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 0
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params) != 0 or not target.is_file():
        raise RunError(f"llama.cpp could not quantise {source.name}")


def metadata(path: Path) -> dict:
    """What a GGUF carries for chat: architecture, chat template, BOS/EOS ids, file type, tensor count."""
    from gguf import GGMLQuantizationType

    scalars, tensor_types = _scan(path)
    wanted = {"general.architecture": "architecture", "tokenizer.chat_template": "chat_template",
              "tokenizer.ggml.bos_token_id": "bos_token_id", "tokenizer.ggml.eos_token_id": "eos_token_id",
              "tokenizer.ggml.eot_token_id": "eot_token_id", "tokenizer.ggml.pre": "pre_tokenizer",
              "tokenizer.ggml.add_bos_token": "add_bos_token", "general.file_type": "file_type",
              "general.name": "name"}
    found = {label: scalars[key][0] for key, label in wanted.items() if key in scalars}
    found["tensors"] = len(tensor_types)
    found["tensor_types"] = sorted({GGMLQuantizationType(t).name for t in tensor_types})
    return found


# GGUF value types (gguf-py's GGUFValueType) -> struct format of a scalar; 8 is a string, 9 an array
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


@dataclass(frozen=True)
class _Field:
    """One key/value pair of a GGUF header: its bytes are [start, end) of the file; a scalar's or a string's value
    and where the value's bytes begin (arrays are stepped over: `count` items)."""

    key: str
    kind: int
    start: int
    end: int
    value: object = None
    at: int = 0
    count: int = 0


@dataclass(frozen=True)
class _Tensor:
    name: str
    dims: tuple[int, ...]
    kind: int


@dataclass(frozen=True)
class _Layout:
    """Where a GGUF's parts lie: its fields, the tensor infos' bytes [infos), the data section's first byte."""

    version: int
    fields: list
    tensors: list
    infos: tuple[int, int]
    alignment: int
    data: int


def _scan(path: Path) -> tuple[dict, list[int]]:
    """A GGUF's header (`_layout`): {key: (value, byte offset of the value)} for its scalar and string fields, and
    the type of each tensor."""
    found = _layout(path)
    return ({f.key: (f.value, f.at) for f in found.fields if f.kind != 9}, [t.kind for t in found.tensors])


def _layout(path: Path) -> _Layout:
    """A GGUF's header read in one pass (arrays are stepped over: a 262k-token vocabulary takes gguf-py's
    GGUFReader a minute on 2 cores to unpack into fields, which neither what a chat needs to know nor the tokenizer
    splice ever reads). Little-endian GGUF (what llama.cpp writes)."""
    import mmap
    import struct

    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != b"GGUF":
            raise RunError(f"{Path(path).name} is not a GGUF file")
        version, tensors, count = struct.unpack_from("<IQQ", data, 4)
        if version > 0xFFFF:
            raise RunError(f"{Path(path).name} is a big-endian GGUF, which this reader does not read")
        at = 24

        def text(at: int) -> tuple[str, int]:
            (size,) = struct.unpack_from("<Q", data, at)
            return data[at + 8:at + 8 + size].decode("utf-8", errors="replace"), at + 8 + size

        def skip(kind: int, at: int, count: int = 1) -> int:
            if kind in _SCALARS:
                return at + struct.calcsize("<" + _SCALARS[kind]) * count
            for _ in range(count):
                if kind == 8:
                    at += 8 + struct.unpack_from("<Q", data, at)[0]
                else:  # an array of arrays
                    inner, n = struct.unpack_from("<IQ", data, at)
                    at = skip(inner, at + 12, n)
            return at

        fields = []
        for _ in range(count):
            start = at
            key, at = text(at)
            (kind,) = struct.unpack_from("<I", data, at)
            at += 4
            if kind in _SCALARS:
                value, end = struct.unpack_from("<" + _SCALARS[kind], data, at)[0], skip(kind, at)
                fields.append(_Field(key, kind, start, end, value, at))
            elif kind == 8:
                value, end = text(at)
                fields.append(_Field(key, kind, start, end, value, at + 8))
            else:
                inner, n = struct.unpack_from("<IQ", data, at)
                fields.append(_Field(key, kind, start, skip(inner, at + 12, n), count=n))
            at = fields[-1].end
        first, infos = at, []
        for _ in range(tensors):
            name, at = text(at)
            (dims,) = struct.unpack_from("<I", data, at)
            shape = struct.unpack_from(f"<{dims}Q", data, at + 4)
            at += 4 + 8 * dims
            infos.append(_Tensor(name, tuple(shape), struct.unpack_from("<I", data, at)[0]))
            at += 12  # the type and the data's offset
        alignment = next((f.value for f in fields if f.key == "general.alignment"), 32)
    return _Layout(version, fields, infos, (first, at), alignment, at + (-at % alignment))
