"""Compiled kernels for the CPU training path: what it owns is building, loading and calling engine/kernels.c.

On 2 CPU cores the frozen products of a LoRA step run near the machine's matmul peak, and much of the rest
is elementwise work that torch does as one pass per operation (an RMS norm is seven, its gradient nine,
the SwiGLU gradient five over [tokens x 2 intermediate]), each writing a fresh tensor the allocator has to
fault in. engine/kernels.c does each of those groups in one pass. It is plain C with OpenMP and no torch
headers: the machine's C compiler builds it in under a second on first use, with -march=native, into
ANCHORTUNE_HOME/native (one file per source, compiler and CPU, written under a temporary name and renamed,
so a failed or concurrent build leaves nothing half-written). It is loaded after torch, so its OpenMP calls
run on torch's own thread pool. Where the compiler targets AVX-512 with bf16 conversion, the loops with exp,
division or short rows use intrinsics (see kernels.c); built with -DAT_PORTABLE (FLAGS) they stay plain C
loops, and the tests check both builds against torch.

Where there is no compiler, the build fails, the library's self-check disagrees with torch, the tensors
are not on the CPU in bf16, or ANCHORTUNE_NATIVE=off, `library()` is None and callers (engine/fused_layer.py,
engine/loss.py) run their torch operations instead; `describe()` says which and why.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from anchortune import settings
from anchortune.engine import context as engine_context

SOURCE = Path(__file__).with_name("kernels.c")
FLAGS = ("-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC")
_LOG = logging.getLogger(__name__)
# "lib": the loaded library or None, "why": why there is none. A loaded shared library is the process's, as torch's
# own are: loaded once and never changed; whether a run computes with it is its plan's (engine/context.py, `ready`)
_STATE: dict = {}

_P, _L, _I, _F = ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_float
_SIGNATURES = {
    "at_rms_forward": ([_P, _P, _P, _P, _F, _P, _P, _L, _L, _I], None),
    "at_rms_backward": ([_P, _P, _P, _P, _P, _P, _P, _L, _L, _I], None),
    "at_rotary_forward": ([_P, _L, _P, _P, _P, _L, _L, _L, _I], None),
    "at_rotary_backward": ([_P, _P, _L, _P, _P, _L, _L, _L, _I], None),
    "at_swiglu_forward": ([_P, _P, _L, _L, _I], None),
    "at_swiglu_backward": ([_P, _P, _P, _P, _L, _L, _I], None),
    "at_causal_probs": ([_P, _P, _P, _L, _L, _L, _L, _F, _I], _I),
    "at_causal_probs_backward": ([_P, _P, _P, _P, _L, _L, _L, _L, _I], _I),
    "at_residual_add": ([_P, _P, _P, _L, _I], None),
    "at_softmax_xent": ([_P, _L, _P, _L, _L, _I, _I], ctypes.c_double),
}


def _cpu_key() -> str:
    """What -march=native depends on: the CPU's model and feature flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({ln for ln in lines if ln.startswith(("flags", "model name", "Features"))}))
    except OSError:
        return platform.processor() + platform.machine()


def _build() -> Path:
    """The compiled library for this source, compiler and CPU: built once, then found in the cache."""
    compiler = shutil.which(settings.c_compiler())
    if compiler is None:
        raise RuntimeError(f"no C compiler ({settings.c_compiler()!r} not found)")
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256(b"\0".join([SOURCE.read_bytes(), " ".join(FLAGS).encode(), compiler.encode(),
                                      version.encode(), _cpu_key().encode()])).hexdigest()[:16]
    folder = settings.native_dir()
    target = folder / f"kernels-{key}.so"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".kernels-", suffix=".so")
    os.close(handle)
    try:
        done = subprocess.run([compiler, *FLAGS, "-o", temporary, str(SOURCE), "-lm"], capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(compiler).name} failed: {(done.stderr or done.stdout).strip()[-400:]}")
        os.replace(temporary, target)
        for stale in folder.glob("kernels-*.so"):  # builds of an earlier source or compiler: rebuilt in a second
            if stale != target:
                stale.unlink(missing_ok=True)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _load(path: Path):
    import torch  # noqa: F401  torch's libgomp first: the library's OpenMP calls then use torch's pool

    lib = ctypes.CDLL(str(path))
    for name, (args, result) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = args, result
    return lib


def library():
    """The loaded kernels, or None (see the module docstring); built and checked on the first call."""
    if "lib" not in _STATE:
        _STATE["lib"], _STATE["why"] = None, ""
        if not settings.native_enabled():
            _STATE["why"] = "off (ANCHORTUNE_NATIVE)"
        else:
            try:
                lib = _load(_build())
                _STATE["lib"] = lib
                _self_check()
            except Exception as error:  # a missing or broken compiler is not the user's error: fall back
                _STATE["lib"], _STATE["why"] = None, str(error) or type(error).__name__
                _LOG.info("compiled training kernels unavailable, torch operations used: %s", _STATE["why"])
    return _STATE["lib"]


def describe() -> str:
    """'compiled' or 'torch (why)', for run summaries and the bench."""
    return "compiled" if library() is not None else f"torch ({_STATE.get('why', '')})"


def reset() -> None:
    """Forget the loaded state (tests switch ANCHORTUNE_NATIVE); the built file stays in the cache."""
    _STATE.clear()


def ready(*tensors) -> bool:
    """True when the kernels are loaded, the engaged run's plan lets them run (engine/context.py; outside an engaged
    run: whenever they load) and every tensor lies on the CPU (the callers check dtypes)."""
    run = engine_context.current()
    return (run is None or run.kernels) and library() is not None and all(t.device.type == "cpu" for t in tensors)


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


def _rows(t, width: int) -> int:
    """The row stride of a 2-d view whose rows are contiguous runs of `width` values."""
    if t.dim() != 2 or t.shape[1] != width or t.stride(1) != 1:
        raise ValueError(f"expected rows of {width} contiguous values, got shape {tuple(t.shape)}, "
                         f"strides {t.stride()}")
    return t.stride(0)


def _contiguous(*tensors) -> None:
    for t in tensors:
        if t is not None and not t.is_contiguous():
            raise ValueError(f"expected a contiguous tensor, got shape {tuple(t.shape)}, strides {t.stride()}")


def rms_forward(x, weight, eps: float, residual=None):
    """(h, bf16(h * w / rms(h)), 1 / rms(h) [tokens, 1]) for h = x + residual (x float32 [tokens, hidden],
    residual bf16 or None for h = x), as engine/fused_layer.py's `_rms` after `torch.add`."""
    import torch

    _contiguous(x, weight, residual)
    tokens, size = x.shape
    h = torch.empty_like(x) if residual is not None else x
    n = torch.empty(tokens, size, dtype=torch.bfloat16)
    inv = torch.empty(tokens, 1, dtype=torch.float32)
    library().at_rms_forward(x.data_ptr(), residual.data_ptr() if residual is not None else None, h.data_ptr(),
                             weight.data_ptr(), float(eps), n.data_ptr(), inv.data_ptr(), tokens, size, _threads())
    return h, n, inv


def rms_backward(grad, h, inv, weight, add=None, out=None, as_bf16: bool = False):
    """(gradient with respect to h plus `add`, float32, written to `out` when given (it may be `add`), and its
    bf16 copy or None) of `rms_forward`'s output gradient `grad` (bf16)."""
    import torch

    _contiguous(grad, h, inv, weight, add, out)
    tokens, size = h.shape
    out = torch.empty_like(h) if out is None else out
    low = torch.empty(tokens, size, dtype=torch.bfloat16) if as_bf16 else None
    library().at_rms_backward(grad.data_ptr(), h.data_ptr(), inv.data_ptr(), weight.data_ptr(),
                              add.data_ptr() if add is not None else None, out.data_ptr(),
                              low.data_ptr() if low is not None else None, tokens, size, _threads())
    return out, low


def rotate(rows, cos, sin, heads: int, dim: int):
    """Rotary embedding of `rows` [tokens, heads * dim] (a view with contiguous rows) for float32 cos and sin
    [tokens, dim]: a new [tokens, heads, dim] tensor, as engine/fused_layer.py's `_rotate`."""
    import torch

    _contiguous(cos, sin)
    tokens = rows.shape[0]
    ld = _rows(rows, heads * dim)
    out = torch.empty(tokens, heads, dim, dtype=rows.dtype)
    library().at_rotary_forward(rows.data_ptr(), ld, out.data_ptr(), cos.data_ptr(), sin.data_ptr(), tokens, heads,
                                dim, _threads())
    return out


def rotate_backward(grad, cos, sin, into) -> None:
    """Gradient of `rotate` for grad [tokens, heads, dim] (contiguous), written into `into` [tokens, heads * dim]
    (a view with contiguous rows)."""
    _contiguous(grad, cos, sin)
    tokens, heads, dim = grad.shape
    ld = _rows(into, heads * dim)
    library().at_rotary_backward(grad.data_ptr(), into.data_ptr(), ld, cos.data_ptr(), sin.data_ptr(), tokens,
                                 heads, dim, _threads())


def swiglu(gu):
    """silu(gate) * up for gu = [gate | up] (bf16 [tokens, 2 intermediate]): bf16 [tokens, intermediate]."""
    import torch

    _contiguous(gu)
    tokens, width = gu.shape
    act = torch.empty(tokens, width // 2, dtype=gu.dtype)
    library().at_swiglu_forward(gu.data_ptr(), act.data_ptr(), tokens, width // 2, _threads())
    return act


def swiglu_backward(gu, grad_act):
    """(the product `swiglu(gu)` again, the gradient [d gate | d up] of gu) for the product's gradient."""
    import torch

    _contiguous(gu, grad_act)
    tokens, width = gu.shape
    act = torch.empty(tokens, width // 2, dtype=gu.dtype)
    grad = torch.empty_like(gu)
    library().at_swiglu_backward(gu.data_ptr(), grad_act.data_ptr(), act.data_ptr(), grad.data_ptr(), tokens,
                                 width // 2, _threads())
    return act, grad


CAUSAL_ROWS = 16  # kernels.c's CP_ROWS: the query and key counts of `causal_probabilities` are multiples of it


def causal_probabilities(query, key, scale: float):
    """softmax(scale x query key^T) over the keys each query sees, 0 after them, for bf16 query [kv heads,
    groups x n, dim] (row r is query r % n of its group) and key [kv heads, n, dim], n a multiple of
    CAUSAL_ROWS: bf16 [kv heads, groups x n, n]. The scores stay in float32 until the probabilities are
    rounded (kernels.c, causal_pass)."""
    import torch

    query = query.contiguous()
    heads, rows, dim = query.shape
    n = key.shape[1]
    _causal_shapes(rows, n, dim)
    pairs = _pairs(key)
    out = torch.empty(heads, rows, n, dtype=query.dtype)
    if library().at_causal_probs(query.data_ptr(), pairs.data_ptr(), out.data_ptr(), heads, rows, n, dim,
                                 float(scale), _threads()) != 0:
        raise MemoryError("no scratch memory for the attention softmax")
    return out


def causal_probabilities_backward(grad_out, value, probabilities):
    """Gradient of the scores (before `causal_probabilities`' scale) for the attention output's gradient
    grad_out (bf16, shaped as the query), the values and the probabilities: p * (dp - sum(p * dp)) with
    dp = grad_out value^T in float32, rounded once; shaped as the probabilities."""
    import torch

    grad_out, probabilities = grad_out.contiguous(), probabilities.contiguous()
    heads, rows, dim = grad_out.shape
    n = value.shape[1]
    _causal_shapes(rows, n, dim)
    pairs = _pairs(value)
    out = torch.empty_like(probabilities)
    if library().at_causal_probs_backward(grad_out.data_ptr(), pairs.data_ptr(), probabilities.data_ptr(),
                                          out.data_ptr(), heads, rows, n, dim, _threads()) != 0:
        raise MemoryError("no scratch memory for the attention softmax")
    return out


def _causal_shapes(rows: int, n: int, dim: int) -> None:
    if n % CAUSAL_ROWS or rows % n or dim % 2:
        raise ValueError(f"causal attention kernels need keys in multiples of {CAUSAL_ROWS}, whole query groups "
                         f"and an even head size: got {rows} query rows, {n} keys, head size {dim}")


def _pairs(keys):
    """bf16 [heads, n, dim] as [heads, dim / 2, n] pairs of adjacent dimensions (one 32-bit word each): the
    layout the bf16 dot-product instruction reads, 16 keys a load."""
    import torch

    return keys.contiguous().view(torch.int32).transpose(1, 2).contiguous()


def residual_add(h, d):
    """h + d for float32 h and bf16 d of one shape (contiguous): a new float32 tensor."""
    import torch

    _contiguous(h, d)
    out = torch.empty_like(h)
    library().at_residual_add(h.data_ptr(), d.data_ptr(), out.data_ptr(), h.numel(), _threads())
    return out


def softmax_xent(logits, targets, grad: bool) -> float:
    """Sum over rows of log softmax(logits)[target] for bf16 logits [rows, vocabulary] (contiguous rows) and
    int64 targets; with `grad`, each row of logits is overwritten by softmax - onehot(target)."""
    _contiguous(targets)
    rows, vocabulary = logits.shape
    ld = _rows(logits, vocabulary)
    return library().at_softmax_xent(logits.data_ptr(), ld, targets.data_ptr(), rows, vocabulary, int(grad),
                                     _threads())


def _self_check() -> None:
    """Compare each kernel with torch on small random tensors; raise (and so fall back) where one disagrees."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 40, generator=g)
    w = torch.rand(40, generator=g) + 0.5
    o = torch.randn(5, 40, generator=g).bfloat16()
    h, n, inv = rms_forward(x, w, 1e-5, o)
    ref_h = x + o.float()
    ref_inv = torch.rsqrt(ref_h.pow(2).mean(-1, keepdim=True) + 1e-5)
    checks = {"rms": torch.allclose(h, ref_h) and torch.allclose(inv, ref_inv, rtol=1e-5)
              and torch.allclose(n.float(), (ref_h * ref_inv * w), rtol=1e-2, atol=1e-2)}
    gu = torch.randn(5, 64, generator=g).bfloat16()
    ref_act = torch.nn.functional.silu(gu[:, :32].float()) * gu[:, 32:].float()
    checks["swiglu"] = torch.allclose(swiglu(gu).float(), ref_act, rtol=2e-2, atol=2e-2)
    logits = torch.randn(3, 50, generator=g).bfloat16()
    targets = torch.tensor([0, 7, 49])
    ref = torch.log_softmax(logits.float(), -1).gather(1, targets[:, None]).sum()
    checks["softmax"] = abs(softmax_xent(logits.clone(), targets, False) - float(ref)) < 1e-3
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise RuntimeError(f"self-check disagrees with torch: {', '.join(failed)}")
