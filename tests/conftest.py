"""Shared fixtures: a tiny random-weight Llama with a small BPE tokenizer, built in seconds, offline.

`make test` runs the suite in one pytest-xdist worker per core, a test file to a worker: each worker computes on
one thread (two torch processes of two threads each on two cores wait on each other's OpenMP threads), and the
caches the tests fill on first use (the catalog models prepared from their GGUF files, the distilled embedder)
are filled once, before the workers start."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

if os.environ.get("PYTEST_XDIST_WORKER"):  # before torch reads it
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
os.environ["ANCHORTUNE_LANG"] = "en"  # the command line writes English whatever the machine's locale (tests of German ask)

import pytest  # noqa: E402
import torch  # noqa: E402

from anchortune import settings  # noqa: E402
from anchortune.data.demo_support import support_demo  # noqa: E402
from anchortune.data.loading import save_anchor_points  # noqa: E402
from anchortune.engine.collate import PackCollator, PadCollator  # noqa: E402


SLOW_FILES = ("test_exports.py",)  # minutes on the tiny models too (a 262k-vocabulary GGUF export)


def pytest_collection_modifyitems(config, items):
    """The files with real-model or other slow tests first, so that workers do not end on them one alone."""
    slow = {item.path for item in items if item.get_closest_marker("real_model") or item.path.name in SLOW_FILES}
    items.sort(key=lambda item: item.path not in slow)


def pytest_configure(config):
    """Under pytest-xdist, in the controller: fill the shared caches before the workers race to fill them."""
    if not getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput"):
        return
    from anchortune.models.catalog import CATALOG
    from anchortune.models.loading import resolve_model
    from anchortune.quality.embeddings import load_embedder

    for name, entry in CATALOG.items():
        if entry.is_prepared() or entry.gguf_path() is not None:
            resolve_model(name)
    load_embedder()


@pytest.fixture(scope="session")
def free_port():
    """A function giving a loopback port nothing listens on now (for servers a test starts)."""
    import socket

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return pick


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama (hidden 32) with a ChatML BPE tokenizer trained on the demo texts."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from anchortune.models.loading import CHATML_TEMPLATE

    texts = [m["content"] for p in support_demo() for m in p.messages]
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        bos_token="<|im_start|>")
    tokenizer.chat_template = CHATML_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from anchortune.models.loading import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture
def support_file(tmp_path) -> Path:
    """The project's support demo set (3 examples per intent) as JSONL."""
    return save_anchor_points(support_demo(n_per_intent=3), tmp_path / "support.jsonl")


@pytest.fixture
def write_lines(tmp_path):
    """Write raw lines (str objects are JSON-encoded, bytes/str lines written as given) to a file."""

    def write(name: str, lines: list, raw: bool = False) -> Path:
        path = tmp_path / name
        if raw:
            path.write_bytes(b"\n".join(l if isinstance(l, bytes) else l.encode() for l in lines) + b"\n")
        else:
            path.write_text("".join(json.dumps(l, ensure_ascii=False) + "\n" for l in lines), encoding="utf-8")
        return path

    return write


@pytest.fixture
def shared_data() -> Path:
    folder = settings.shared_data()
    if not folder.is_dir():
        pytest.skip(f"third-party datasets not found at {folder} (set ANCHORTUNE_SHARED_DATA)")
    return folder


@pytest.fixture(scope="session")
def embedder():
    """The real static embedder (distilled once into the anchortune cache, offline)."""
    from anchortune.quality.embeddings import load_embedder

    return load_embedder()


def _wait_for(predicate, timeout: float = 240, what: str = "a condition", every: float = 0.05):
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` seconds."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="session")
def wait_for():
    """The polling helper of the tests that wait on servers, workers and jobs."""
    return _wait_for


# the engine's and the training's tests: a tiny Llama with a LoRA adapter that has already moved off its start, and
# tiny random models of every family the engine's parity tests cover (`parity`)
@pytest.fixture
def lora_model():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero; a trained adapter has not
            param.data.normal_(std=0.1)
    return model


SMALL = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256)
WINDOW = 4  # sliding windows shorter than the test's examples (6 to 11 tokens)


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(**SMALL))


def _qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = Qwen2ForCausalLM(Qwen2Config(**SMALL))
    for name, param in model.named_parameters():
        if name.endswith("bias"):  # Qwen2's q/k/v biases, random and far from zero
            param.data.normal_(std=0.5)
    return model


def _qwen3():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    return Qwen3ForCausalLM(Qwen3Config(**SMALL, head_dim=16))


def _gemma3(**extra):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(**SMALL, head_dim=16, sliding_window=WINDOW, query_pre_attn_scalar=16,
                              layer_types=["sliding_attention", "full_attention"], **extra)
    model = Gemma3ForCausalLM(config)
    for name, param in model.named_parameters():
        if "norm" in name:  # Gemma's norms start at zero (weight 1 + w): move them, q/k norms included
            param.data.normal_(std=0.3)
    return model


def _mistral():
    from transformers import MistralConfig, MistralForCausalLM

    return MistralForCausalLM(MistralConfig(**SMALL, sliding_window=WINDOW))


def _phi3():
    from transformers import Phi3Config, Phi3ForCausalLM

    return Phi3ForCausalLM(Phi3Config(**SMALL, pad_token_id=0))


FAMILIES = {"llama": _llama, "qwen2": _qwen2, "qwen3": _qwen3, "gemma3_text": _gemma3, "mistral": _mistral,
            "phi3": _phi3}


def _lora(build):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(build(), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero; a trained adapter has not
            param.data.normal_(std=0.1)
    return model


def _examples():
    generator = torch.Generator().manual_seed(1)
    out = []
    for length, prompt in ((9, 3), (6, 2), (11, 4)):
        ids = torch.randint(1, 96, (length,), generator=generator).tolist()
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def _row(packed: bool) -> dict:
    return PackCollator(0, 8)(_examples()) if packed else PadCollator(0)(_examples())


def _error(grads, reference) -> float:
    """The largest gradient difference relative to the reference gradient's norm."""
    return max(((grads[n] - g).norm() / g.norm()).item() for n, g in reference.items())


@pytest.fixture(scope="session")
def parity():
    """The parity tests' helpers: tiny LoRA models by family, their rows (packed or padded), gradient error."""
    return SimpleNamespace(families=FAMILIES, lora=_lora, row=_row, error=_error, gemma3=_gemma3, llama=_llama,
                           qwen2=_qwen2, window=WINDOW)



# headless Chromium for the studio's browser tests (Debian's chromium, driven by Playwright) -----------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium for the browser tests of one module; a clear failure where `make test` did not install
    it."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail("chromium is not installed; `make test` installs Debian's chromium and chromium-driver")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--no-first-run", "--disable-default-apps"])
        yield browser
        browser.close()
