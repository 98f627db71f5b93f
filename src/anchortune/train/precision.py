"""Which compute precision a run uses: bf16 autocast where the hardware does bf16 natively, else fp32."""

from __future__ import annotations

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
