"""A Llama decoder layer as one autograd function while a LoRA training runs on packed rows.

transformers runs a decoder layer as ~60 small operations forward (two RMS norms of six operations each,
the rotary embedding as slices, a negation, a concatenation, two products and a sum per tensor, casts, two
residual sums, the SwiGLU product), each an autograd node with a backward of its own, and the grouped LoRA
products (engine/fused_lora.py) as further nodes between them. Here the whole layer is one function with a
hand-written backward over the same numbers: the queries and keys are rotated together, in one buffer, in
float32 with the float32 rotary tables autocast multiplies them with, each rotated value rounded to bf16 once
(the engine leaves the tables in float32 for these layers: tables rounded to bf16 first, as a bf16 model has
them, put two of three rotated values off the correctly rounded one, relative error 2.5e-3 against 1.7e-3,
and took the kernel 32 us a layer against 18), the SwiGLU gradient is written straight
into one [tokens x 2 intermediate] buffer (no split gradient concatenated back), the norm gradients are formed
in place, the SwiGLU product is formed again in backward from the kept gate and up projections (not kept: ~41
MB less a micro-batch on the bench model), and the frozen and LoRA products and the per-example attention
(engine/packed_attention.py, `attend`) are those of the modules it stands in for. What it computes is what
the layer computes under bf16 autocast: norms in float32, products in bf16, a float32 residual stream.
Where engine/native.py's compiled kernels load (bf16 on a CPU), the elementwise groups (norms with their residual
sums, rotary, SwiGLU, and their gradients) run as one pass each; torch's operations elsewhere, with the same
numbers up to the last bits. Measured against the layer's own forward and torch.compile of it:
bench/results/engine_history.md and engine_parts.md.

It stands in for a layer only where it knows the layer: Llama's (or Mistral's, which adds a sliding
window) decoder layer with no biases, SiLU, RMS norms, LoRA on all seven projections grouped by
engine/fused_lora.py, a packed row (`cu_seq_lens_q`), no cache and no gradient checkpointing; any other call goes to the layer's own forward.
`fused_layers(model)` patches the layers' forward for a training's duration (inside `fused_lora.fused`).
"""

from __future__ import annotations

import contextlib

from anchortune.engine.families import FAMILIES

LAYERS = tuple(f.fused_layer for f in FAMILIES.values() if f.fused_layer)  # the layers this function computes
NORMS = tuple(f.norm for f in FAMILIES.values() if f.fused_layer)
WINDOWED = tuple(f.fused_layer for f in FAMILIES.values() if f.fused_layer and f.windowed)  # masked to the window


def _rms(x, weight, eps: float, dtype):
    """(weight * x / rms(x)) in `dtype`, and 1 / rms(x) [tokens, 1], for float32 x [tokens, hidden]."""
    import torch

    inv = torch.rsqrt(x.pow(2).mean(-1, keepdim=True).add_(eps))
    return (x * inv).mul_(weight).to(dtype), inv


def _rms_backward(grad, x, inv, weight):
    """Gradient of `_rms` with respect to x (float32) for the gradient of its output."""
    scaled = grad.float().mul_(weight)  # dL/d(x * inv)
    normed = x * inv
    dot = (scaled * normed).mean(-1, keepdim=True)
    return scaled.sub_(normed.mul_(dot)).mul_(inv)


def _rotate(x, cos, sin):
    """Rotary embedding of x [tokens, heads, dim] (transformers' rotate_half layout) for cos and sin
    [tokens, dim] whose halves repeat (as every transformers rotary table does): a new tensor."""
    import torch

    half = x.shape[-1] // 2
    c, s = cos[:, None, :half].float(), sin[:, None, :half].float()
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    out = torch.empty_like(x)
    torch.sub(x1 * c, x2 * s, out=out[..., :half])  # in float32, rounded once to x's dtype
    torch.add(x2 * c, x1 * s, out=out[..., half:])
    return out


def _rotate_backward(grad, cos, sin, out):
    """Gradient of `_rotate` for grad [tokens, heads, dim], written into `out` (same shape, any strides)."""
    import torch

    half = grad.shape[-1] // 2
    c, s = cos[:, None, :half].float(), sin[:, None, :half].float()
    g1, g2 = grad[..., :half].float(), grad[..., half:].float()
    torch.add(g1 * c, g2 * s, out=out[..., :half])
    torch.sub(g2 * c, g1 * s, out=out[..., half:])
    return out


def _compiled(x, cos, sin, dtype, plan) -> bool:
    """True when engine/native.py's kernels can compute this call: loaded, CPU, bf16 products, float32
    residual stream and norm weights, contiguous rotary tables."""
    import torch

    from anchortune.engine import native

    return dtype == torch.bfloat16 and x.dtype == torch.float32 and x.is_contiguous() \
        and cos.dtype == sin.dtype == torch.float32 and cos.is_contiguous() and sin.is_contiguous() \
        and plan.norm1.weight.dtype == plan.norm2.weight.dtype == torch.float32 and native.ready(x)


class _Plan:
    """What one layer's function needs besides the tensors autograd tracks: its LoRA groups, norms and shapes."""

    def __init__(self, layer, groups: dict):
        attn = layer.self_attn
        self.qkv, self.o, self.gate_up, self.down = (groups[n] for n in ("q_proj", "o_proj", "gate_proj", "down_proj"))
        self.norm1, self.norm2 = layer.input_layernorm, layer.post_attention_layernorm
        self.head_dim = attn.head_dim
        self.heads = attn.q_proj.base_layer.out_features // self.head_dim
        self.kv_heads = attn.k_proj.base_layer.out_features // self.head_dim
        self.scale = attn.scaling
        self.window = getattr(attn.config, "sliding_window", None) if type(layer).__name__ in WINDOWED else None
        self.intermediate = layer.mlp.gate_proj.base_layer.out_features

    def groups(self) -> list:
        return [self.qkv, self.o, self.gate_up, self.down]

    def usable(self) -> bool:
        return all(g.usable() for g in self.groups())


def _function():
    import torch

    from anchortune.engine import native
    from anchortune.engine.fused_lora import lora_backward, lora_forward
    from anchortune.engine.packed_attention import attend, attend_backward

    class DecoderLayer(torch.autograd.Function):
        """h + attention(norm(h)), then + SwiGLU MLP(norm(.)), as transformers' Llama layer computes it."""

        @staticmethod
        def forward(ctx, hidden, cos, sin, plan, bounds, dtype, grad_mode, *adapters):
            tokens, size = hidden.shape[1], hidden.shape[2]
            heads, kv, dim = plan.heads, plan.kv_heads, plan.head_dim
            x = hidden.view(tokens, size)
            qkv_ops, o_ops, gu_ops, down_ops = (g.operands(dtype) for g in plan.groups())
            cos, sin = cos.view(tokens, -1).float(), sin.view(tokens, -1).float()  # rotated in float32, rounded once

            keep = grad_mode and (ctx.needs_input_grad[0] or any(ctx.needs_input_grad[7:]))
            fast = _compiled(x, cos, sin, dtype, plan)
            if fast:
                n1, inv1 = native.rms_forward(x, plan.norm1.weight, plan.norm1.variance_epsilon)[1:]
            else:
                n1, inv1 = _rms(x, plan.norm1.weight, plan.norm1.variance_epsilon, dtype)
            qkv, xa_qkv = lora_forward(n1, *qkv_ops)
            if fast:
                qk = native.rotate(qkv[:, :(heads + kv) * dim], cos, sin, heads + kv, dim)
            else:
                qk = _rotate(qkv[:, :(heads + kv) * dim].view(tokens, heads + kv, dim), cos, sin)
            query, key = (t.transpose(0, 1).unsqueeze(0) for t in (qk[:, :heads], qk[:, heads:]))
            value = qkv[:, (heads + kv) * dim:].view(tokens, kv, dim).transpose(0, 1).unsqueeze(0)
            out, saved_attn = attend(query, key, value, plan.scale, bounds, keep, plan.window)
            attended = out.view(tokens, heads * dim)
            o, xa_o = lora_forward(attended, *o_ops)

            if fast:
                h2, n2, inv2 = native.rms_forward(x, plan.norm2.weight, plan.norm2.variance_epsilon, residual=o)
            else:
                h2 = torch.add(x, o)
                n2, inv2 = _rms(h2, plan.norm2.weight, plan.norm2.variance_epsilon, dtype)
            gu, xa_gu = lora_forward(n2, *gu_ops)
            if fast:
                act = native.swiglu(gu)  # not kept: backward forms it again from gu
            else:
                gate, up = gu[:, :plan.intermediate], gu[:, plan.intermediate:]
                act = torch.nn.functional.silu(gate).mul_(up)
            down, xa_down = lora_forward(act, *down_ops)
            h3 = native.residual_add(h2, down) if fast else torch.add(h2, down)

            query, key, value, kept = saved_attn
            ctx.save_for_backward(x, inv1, n1, xa_qkv, cos, sin, query, key, value, attended, xa_o, h2, inv2, n2,
                                  gu, xa_gu, xa_down, *(kept or []))
            ctx.plan = (plan, bounds, dtype, kept is not None, fast, qkv_ops, o_ops, gu_ops, down_ops)
            return h3.view(1, tokens, size)

        @staticmethod
        def backward(ctx, grad):
            x, inv1, n1, xa_qkv, cos, sin, query, key, value, attended, xa_o, h2, inv2, n2, gu, xa_gu, \
                xa_down, *kept = ctx.saved_tensors
            plan, bounds, dtype, saved, fast, qkv_ops, o_ops, gu_ops, down_ops = ctx.plan
            tokens, size = x.shape
            heads, kv, dim, inter = plan.heads, plan.kv_heads, plan.head_dim, plan.intermediate
            g3 = grad.reshape(tokens, size)

            if fast:  # lora_backward for down_proj, its input (the SwiGLU product) formed only when needed
                g3 = g3.contiguous()
                g3_low = g3.to(dtype)
                weight_down, a_down, bd_down = down_ops
                gb_d = g3_low @ bd_down
                g_act = (g3_low @ weight_down).addmm_(gb_d, a_down)
                act, g_gu = native.swiglu_backward(gu, g_act)  # one pass: the product and its gradient
                ga_down, gb_down = gb_d.T @ act, g3_low.T @ xa_down
            else:
                gate, up = gu[:, :inter], gu[:, inter:]
                silu = torch.nn.functional.silu(gate)
                g_act, ga_down, gb_down = lora_backward(g3.to(dtype), silu * up, xa_down, *down_ops)  # act again
                g_gu = torch.empty_like(gu)
                g_gate = torch.mul(g_act, up, out=g_gu[:, :inter])
                torch.ops.aten.silu_backward.grad_input(g_gate, gate, grad_input=g_gate)
                torch.mul(g_act, silu, out=g_gu[:, inter:])
            g_n2, ga_gu, gb_gu = lora_backward(g_gu, n2, xa_gu, *gu_ops)
            if fast:
                g_h2, g_h2_low = native.rms_backward(g_n2, h2, inv2, plan.norm2.weight, add=g3, as_bf16=True)
            else:
                g_h2 = _rms_backward(g_n2, h2, inv2, plan.norm2.weight).add_(g3)
                g_h2_low = g_h2.to(dtype)

            g_attended, ga_o, gb_o = lora_backward(g_h2_low, attended, xa_o, *o_ops)
            g_qkv = torch.empty(tokens, (heads + 2 * kv) * dim, dtype=dtype, device=x.device)
            g_qk = torch.empty(tokens, heads + kv, dim, dtype=dtype, device=x.device)
            g_v = g_qkv[:, (heads + kv) * dim:].view(tokens, kv, dim)
            into = tuple(t.transpose(0, 1).unsqueeze(0) for t in (g_qk[:, :heads], g_qk[:, heads:], g_v))
            attend_backward(g_attended.view(1, tokens, heads, dim), (query, key, value, kept if saved else None),
                            plan.scale, bounds, into, plan.window)
            if fast:
                native.rotate_backward(g_qk, cos, sin, g_qkv[:, :(heads + kv) * dim])
            else:
                _rotate_backward(g_qk, cos, sin, g_qkv[:, :(heads + kv) * dim].view(tokens, heads + kv, dim))
            needs_x = ctx.needs_input_grad[0]
            g_n1, ga_qkv, gb_qkv = lora_backward(g_qkv, n1, xa_qkv, *qkv_ops, input_grad=needs_x)
            if needs_x and fast:
                g_x = native.rms_backward(g_n1, x, inv1, plan.norm1.weight, add=g_h2, out=g_h2)[0]
            else:
                g_x = g_h2.add_(_rms_backward(g_n1, x, inv1, plan.norm1.weight)) if needs_x else None

            adapter_grads = []
            for group, ga, gb in zip(plan.groups(), (ga_qkv, ga_o, ga_gu, ga_down), (gb_qkv, gb_o, gb_gu, gb_down)):
                adapter_grads += group.adapter_grads(ga, gb)
            return (g_x.view(1, tokens, size) if g_x is not None else None, None, None, None, None, None, None,
                    *adapter_grads)

    return DecoderLayer


_FN = None


def _forward(layer, plan: _Plan, original):
    """The layer's forward: the fused function for a packed training row, the layer's own for anything else."""

    def forward(hidden_states, attention_mask=None, position_ids=None, cache=None, use_cache=False,
                position_embeddings=None, **kwargs):
        import torch

        from anchortune.engine.fused_lora import compute_dtype

        bounds = kwargs.get("cu_seq_lens_q")
        kwargs_cache = kwargs.get("past_key_values")
        if bounds is None or position_embeddings is None or cache is not None or kwargs_cache is not None \
                or hidden_states.shape[0] != 1 or hidden_states.dtype != torch.float32 \
                or (layer.gradient_checkpointing and layer.training) or not plan.usable():
            return original(hidden_states, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
                            use_cache=use_cache, position_embeddings=position_embeddings, **kwargs)
        global _FN
        _FN = _FN or _function()
        cos, sin = position_embeddings
        adapters = [t for group in plan.groups() for t in group.adapters()]
        return _FN.apply(hidden_states, cos, sin, plan, [int(b) for b in bounds.tolist()],
                         compute_dtype(hidden_states, plan.qkv.weight), torch.is_grad_enabled(), *adapters)

    return forward


def known(layer) -> bool:
    """True for a decoder layer this function computes exactly as the layer does (see the module docstring)."""
    attn, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
    if type(layer).__name__ not in LAYERS or attn is None or mlp is None:
        return False
    norms = (getattr(layer, n, None) for n in ("input_layernorm", "post_attention_layernorm"))
    if any(type(norm).__name__ not in NORMS for norm in norms):
        return False
    config = attn.config
    projections = [getattr(attn, n, None) for n in ("q_proj", "k_proj", "v_proj", "o_proj")] + \
                  [getattr(mlp, n, None) for n in ("gate_proj", "up_proj", "down_proj")]
    return getattr(config, "hidden_act", None) == "silu" and not getattr(config, "attention_dropout", 0.0) \
        and all(getattr(p, "base_layer", None) is not None and p.base_layer.bias is None for p in projections)


@contextlib.contextmanager
def fused_layers(model, groups: dict):
    """Within this context the model's known decoder layers run as one function each on packed training rows.

    `groups` maps a LoRA projection module to its engine/fused_lora.py group (what `fused_lora.fused` yields)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    patched = []
    for layer in getattr(decoder, "layers", []):
        if not known(layer):
            continue
        attn, mlp = layer.self_attn, layer.mlp
        by_name = {n: groups.get(getattr(attn if n in ("q_proj", "o_proj") else mlp, n))
                   for n in ("q_proj", "o_proj", "gate_proj", "down_proj")}
        if any(g is None for g in by_name.values()) or len(by_name["q_proj"].modules) != 3 \
                or len(by_name["gate_proj"].modules) != 2:
            continue
        layer.forward = _forward(layer, _Plan(layer, by_name), layer.forward)
        patched.append(layer)
    try:
        yield len(patched)
    finally:
        for layer in patched:
            del layer.forward
