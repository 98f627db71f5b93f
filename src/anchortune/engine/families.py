"""The model families the fast engine knows, declared once: each by its model type (`config.model_type`), with what
engine/fused_layer.py needs of the families whose decoder layers it computes as one function.

Every family here is one the parity tests cover (tests/engine/test_parity.py trains a tiny random model of each,
built in tests/conftest.py, against the standard engine); engine/paths.py gives no fast part to any other model type.
A new family is its entry here and its tiny model in tests/conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """What the engine knows of one family beyond its parity: the decoder layer and norm classes the fused layer
    function computes (None: the layer's own forward, fast attention and grouped LoRA inside it), and whether those
    layers mask attention to `config.sliding_window`."""

    fused_layer: str | None = None
    norm: str | None = None
    windowed: bool = False


FAMILIES = {
    "llama": Family("LlamaDecoderLayer", "LlamaRMSNorm"),
    "mistral": Family("MistralDecoderLayer", "MistralRMSNorm", windowed=True),  # Llama's layer with a window
    "qwen2": Family(),
    "qwen3": Family(),
    "gemma3_text": Family(),
    "phi3": Family(),
}
