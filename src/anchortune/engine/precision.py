"""A run's compute precision: which one it uses (bf16 autocast where the hardware does bf16 natively, else
fp32), the frozen linear weights held in it while a LoRA run trains (and full precision put back after), and
the rotary tables in it while a model trains or is scored."""

from __future__ import annotations

import contextlib
from pathlib import Path


def cpu_has_bf16() -> bool:
    """True when the CPU advertises native bf16 instructions (AVX512-BF16 or AMX-BF16) and torch runs its
    AVX-512 kernels (ATEN_CPU_CAPABILITY=avx2 caps them, as on an AVX2-only machine: bf16 products there run
    through a reference path, ~1 GFLOP/s against ~150 for fp32 on this 2-core machine, bench/results)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    import torch

    capped = torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "AVX2")
    return ("avx512_bf16" in flags or "amx_bf16" in flags) and not capped


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
    engine/fused_layer.py runs as one function rotate in float32 themselves and get the float32 tables: the
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


def hold_frozen_linears(model, chosen: str) -> list[str]:
    """Store the frozen linear weights of the transformer blocks in bf16 (bf16 runs); their names.

    Autocast casts each of them to bf16 at every forward and keeps the copies for backward, so
    holding them in bf16 computes the same numbers with ~0.4 GB less memory (135M model) and no
    casts; embeddings, norms and the residual stream stay in float32. The float32 rest is copied out of
    the safetensors file mapping, which then closes: its pages (the whole fp32 model, once read) no
    longer count as the process's memory."""
    import torch

    if chosen != "bf16":
        return []
    base = model.get_base_model()
    held = []
    for name, module in base.get_decoder().named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, torch.nn.Linear) and "lora_" not in name and weight is not None \
                and not weight.requires_grad and weight.dtype == torch.float32:
            module.weight.data = weight.data.to(torch.bfloat16)
            held.append(name)
    for tensor in [*base.parameters(), *base.buffers()]:  # the rest in memory of its own: the loader's file
        if tensor.dtype == torch.float32 and not tensor.requires_grad:  # mapping (~0.3 GB resident) goes
            tensor.data = tensor.data.clone()
    return held


def restore_linears(model, held: list[str], source: str | Path) -> None:
    """Put the full-precision base weights back into the linears `hold_frozen_linears` lowered."""
    from anchortune.models.loading import load_model

    fresh = dict(load_model(source).get_decoder().named_modules())
    modules = dict(model.get_base_model().get_decoder().named_modules())
    for name in held:
        weight = modules[name].weight
        modules[name].weight.data = fresh[name.replace(".base_layer", "")].weight.data.to(weight.device)
