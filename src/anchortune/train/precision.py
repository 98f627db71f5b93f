"""Which compute precision a run uses (bf16 autocast where the hardware does bf16 natively, else fp32), and the
rotary tables in that precision while a model trains or is scored."""

from __future__ import annotations

import contextlib
from pathlib import Path


def cpu_has_bf16() -> bool:
    """True when the CPU advertises native bf16 instructions (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose(requested: str) -> str:
    """'bf16' or 'fp32' for a requested 'auto' | 'bf16' | 'fp32'."""
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


@contextlib.contextmanager
def rotary_in_compute_dtype(model):
    """Within this context, under autocast, the model's rotary tables come in the autocast dtype.

    transformers makes them in the residual stream's dtype (float32 here), so the bf16 queries and keys
    were rotated in float32 and cast back to bf16 for attention: twice the memory traffic and two casts
    per layer. In bf16 the rotation is what a bf16 model computes (step loop, bench model: ~+3 % trained
    tokens/s). Models without a `rotary_emb` module on their decoder are left as they are. Layers that
    train/fused_layer.py runs as one function rotate in float32 themselves and get the float32 tables: the
    engine enters this context only where no layer is fused."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    rotary = getattr(decoder, "rotary_emb", None)
    if rotary is None:
        yield
        return
    original = rotary.forward
    patched_before = "forward" in vars(rotary)  # nested (an evaluation inside a training): put back the outer's

    def forward(x, *args, **kwargs):
        cos, sin = original(x, *args, **kwargs)
        device = x.device.type
        if torch.is_autocast_enabled(device):
            dtype = torch.get_autocast_dtype(device)
            return cos.to(dtype), sin.to(dtype)
        return cos, sin

    rotary.forward = forward
    try:
        yield
    finally:
        if patched_before:
            rotary.forward = original
        else:
            del rotary.forward
