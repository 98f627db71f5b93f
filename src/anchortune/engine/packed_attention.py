"""Attention for packed training rows: each example attends causally to itself only.

A packed row (engine/collate.py, PackCollator) holds several examples back to back; their bounds come
as `cu_seq_lens_q`. For each example the scores are one batched product per key/value head (the query heads
that share it stacked: grouped-query attention without repeating keys) with the causal mask as its additive
bias, put through a softmax and multiplied with the values; the scale is the score product's alpha, so the
query is kept as it came, with no scaled copy. The probabilities are kept for backward while a layer's come to
at most KEEP_BYTES (4 MiB: a Bitext row of two ~220-token examples holds
~2 MB a layer, ~55 MB over SmolLM2's 30 layers); above that the backward recomputes them from the saved
queries, keys and values, so long rows keep nothing of size tokens x tokens. The score gradient comes
from the fused softmax-backward kernel. Where engine/native.py's kernels load (bf16 on a CPU), the score
product and its softmax are one kernel that keeps the scores in float32 (as SDPA's flash kernel does), and
so are the gradient's dp = g v^T and the softmax gradient; elsewhere the products run in the inputs'
precision (bf16 under autocast, so bf16 scores, as transformers' eager attention has them) and the softmax in
float32 over them. Each example's products are zero-padded to a multiple of 32 rows (see _segment: oneDNN
caches a kernel per shape).

Measured against SDPA with transformers' packed-sequence masks (the standard engine) and SDPA per example: the
kernels' float32 scores are faster and as accurate as SDPA's (bench/results/engine_history.md, engine_parts.md).
Sliding-window layers (Gemma 3, Mistral) mask segments longer than the window with torch's operations; soft-capped
scores and attention sinks are refused (engine/paths.py keeps such models on their own attention).

`attend` and `attend_backward` are the forward and backward as plain functions: engine/fused_layer.py calls them
inside its decoder-layer function. `packed(model)` switches a model to this attention while a training or an
evaluation (engine/loss.py, answer_loss) runs.
"""

from __future__ import annotations

import contextlib

from anchortune.engine import context as engine_context
from anchortune.engine import native
from anchortune.engine.collate import padded_width

NAME = "anchortune_packed"
KEEP_BYTES = 4 * 2**20  # a layer keeps its probabilities for backward up to this size (Bitext rows: ~2 MB)
_REGISTERED = False
UNSUPPORTED = ("softcap", "s_aux", "sinks")  # attention-interface arguments this attention does not compute


def attend(query, key, value, scale: float, bounds: list[int], keep: bool, window: int | None = None):
    """Forward for a [1, heads, tokens, dim] query and [1, kv heads, tokens, dim] key and value (any strides):
    (out [1, tokens, heads, dim], what `attend_backward` needs). With `keep`, the probabilities are kept
    for backward while they come to at most KEEP_BYTES. The scale multiplies the scores' product (its
    `alpha`), so the query is kept as it came, not copied scaled. With `window` (a sliding-window layer, as
    transformers defines it: query i sees keys i - window < j <= i), segments longer than the window are
    masked to it."""
    heads, kv_heads, dim = query.shape[1], key.shape[1], query.shape[-1]
    out = query.new_empty(1, query.shape[2], heads, dim)
    size = sum(heads * padded_width(e - s) ** 2 for s, e in zip(bounds[:-1], bounds[1:])) * query.element_size()
    kept = [] if keep and size <= KEEP_BYTES else None
    for start, end in zip(bounds[:-1], bounds[1:]):
        n = end - start
        q, k, v = (_segment(t, start, end) for t in (query, key, value))
        p = _probabilities(q.reshape(kv_heads, -1, dim), k, scale, _limit(window, n))
        if kept is not None:
            kept.append(p)
        out[0, start:end] = (p @ v).view(heads, -1, dim)[:, :n].transpose(0, 1)
    return out, (query, key, value, kept)


def _limit(window: int | None, n: int) -> int | None:
    """The window a segment of n tokens needs masked: None where every query sees all earlier keys anyway."""
    return window if window is not None and n > window else None


def attend_backward(grad_out, saved, scale: float, bounds: list[int], grads=None, window: int | None = None):
    """(grad query, grad key, grad value) of `attend` for grad_out [1, tokens, heads, dim], written into
    `grads` (three tensors shaped as query, key and value, any strides) where given."""
    import torch

    query, key, value, kept = saved
    heads, kv_heads, dim = query.shape[1], key.shape[1], query.shape[-1]
    grad_q, grad_k, grad_v = grads or (torch.empty_like(query), torch.empty_like(key), torch.empty_like(value))
    grad_out = grad_out.to(query.dtype).transpose(1, 2)  # [1, heads, tokens, dim]
    for i, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        n = end - start
        q, k, v, g = (_segment(t, start, end) for t in (query, key, value, grad_out))
        q, g = q.reshape(kv_heads, -1, dim), g.reshape(kv_heads, -1, dim)  # padding rows of g are 0: no gradient
        limit = _limit(window, n)
        p = kept[i] if kept is not None else _probabilities(q, k, scale, limit)
        grad_v[0, :, start:end] = (p.transpose(1, 2) @ g)[:, :n]
        if limit is None and _compiled(q, k):  # p * (dp - sum(dp * p)) over the keys each query sees, dp in float32
            ds = native.causal_probabilities_backward(g, v, p)
        else:
            ds = torch._softmax_backward_data(g @ v.transpose(1, 2), p, -1, p.dtype)
        grad_q[0, :, start:end] = (ds @ k).view(heads, -1, dim)[:, :n]
        grad_k[0, :, start:end] = (ds.transpose(1, 2) @ q)[:, :n]
    return grad_q.mul_(scale), grad_k.mul_(scale), grad_v


def _function():
    import torch

    class SegmentAttention(torch.autograd.Function):
        """out[:, s:e] = softmax(causal(q_s k_s^T * scale)) v_s for every segment [s, e) of the row."""

        @staticmethod
        def forward(ctx, query, key, value, scale, bounds, window):
            out, (query, key, value, kept) = attend(query, key, value, scale, bounds, any(ctx.needs_input_grad[:3]),
                                                    window)
            ctx.save_for_backward(query, key, value, *(kept or []))
            ctx.meta = (scale, bounds, kept is not None, window)
            return out

        @staticmethod
        def backward(ctx, grad_out):
            query, key, value, *kept = ctx.saved_tensors
            scale, bounds, saved, window = ctx.meta
            grads = attend_backward(grad_out, (query, key, value, kept if saved else None), scale, bounds,
                                    window=window)
            return (*grads, None, None, None)

    return SegmentAttention


def _segment(tensor, start: int, end: int):
    """Rows [start, end) of a [1, heads, tokens, dim] tensor, zero-padded to a multiple of PAD_MULTIPLE rows:
    [heads, padded, dim]. The products then see a few shapes, not one per example length (oneDNN caches a
    kernel per shape: free lengths grew the process by ~2 MB each, ~0.4 GB over 200 lengths). Causality keeps
    the padding keys away from every real query; padding queries give rows nobody reads."""
    import torch

    n = end - start
    rows = tensor[0, :, start:end]
    extra = padded_width(n) - n
    return torch.nn.functional.pad(rows, (0, 0, 0, extra)) if extra else rows


def _compiled(q, k) -> bool:
    """True where engine/native.py's causal attention kernels take these queries and keys: bf16 on a CPU,
    kernels loaded, key counts in their multiples (the segments' padded widths are)."""
    import torch

    return q.dtype == torch.bfloat16 and native.ready(q) and k.shape[1] % native.CAUSAL_ROWS == 0 \
        and q.shape[1] % k.shape[1] == 0


def _probabilities(q, k, scale: float, window: int | None = None):
    """Causal softmax of the scaled scores, in q's dtype, float32 inside the kernel:
    [kv heads, group x n, n]. The causal mask (and the sliding window's, where given) is added as the
    product's bias (baddbmm, broadcast over the key/value heads), not filled in afterwards: one pass over the
    scores less. The compiled kernel knows no window: windowed segments take torch's operations."""
    import torch

    if window is None and _compiled(q, k):  # scores in float32 and their softmax over the keys each query sees
        return native.causal_probabilities(q, k, scale)
    n = k.shape[1]
    key = (n, q.shape[1] // n, q.dtype, q.device, window)
    run = engine_context.current()  # the biases by shape are the engaged run's (engine/context.py)
    masks = run.masks if run is not None else {}
    bias = masks.get(key)
    if bias is None:
        if len(masks) > 64:
            masks.clear()
        hidden = torch.ones(n, n, dtype=torch.bool, device=q.device).triu_(1)
        if window is not None:  # query i sees keys i - window < j <= i
            hidden |= torch.ones(n, n, dtype=torch.bool, device=q.device).tril_(-window)
        bias = masks[key] = torch.zeros(n, n, dtype=q.dtype, device=q.device).masked_fill_(
            hidden, float("-inf")).repeat(key[1], 1)  # [group x n, n]: the query heads of a group stacked
    return torch.softmax(torch.baddbmm(bias, q, k.transpose(1, 2), alpha=scale), dim=-1)


_FN = None


def attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
              is_causal: bool | None = None, sliding_window: int | None = None, **kwargs):
    """transformers' attention interface: packed rows per segment, anything else through SDPA.

    What it does not compute (soft-capped scores, attention sinks) it refuses rather than ignores: the engine's
    capability check (engine/paths.py) keeps such models on transformers' own attention."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    unknown = [k for k in UNSUPPORTED if kwargs.get(k) is not None]
    if unknown:
        raise ValueError(f"packed attention does not compute {', '.join(unknown)}: use the standard engine")
    if sliding_window is not None:
        kwargs["sliding_window"] = sliding_window
    bounds = kwargs.get("cu_seq_lens_q")
    if bounds is None or query.shape[0] != 1 or (dropout and module.training):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    global _FN
    _FN = _FN or _function()
    import torch

    dtype = torch.get_autocast_dtype(query.device.type) if torch.is_autocast_enabled(query.device.type) \
        else query.dtype
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    bounds = [int(b) for b in bounds.tolist()]
    if bounds[0] != 0 or bounds[-1] != query.shape[2] or any(b >= e for b, e in zip(bounds[:-1], bounds[1:])):
        raise ValueError(f"cu_seq_lens_q must rise from 0 to the row's {query.shape[2]} tokens, got {bounds}")
    out = _FN.apply(query.to(dtype), key.to(dtype), value.to(dtype), scale, bounds, sliding_window)
    return out, None


def register() -> None:
    """Make NAME a transformers attention implementation (masks built as for SDPA)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    _REGISTERED = True


@contextlib.contextmanager
def packed(model):
    """Within this context the model attends per packed segment (see the module docstring)."""
    register()
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    before = base.config._attn_implementation
    base.set_attn_implementation(NAME)
    try:
        yield
    finally:
        base.set_attn_implementation(before)
