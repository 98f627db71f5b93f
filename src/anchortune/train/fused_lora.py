"""Fused LoRA projections for training: the projections that read the same input run as one.

PEFT computes every LoRA linear as base(x) + B(A(x)) * scale, module by module: under bf16 autocast
each call casts its input twice, saves its own bf16 copy of it for backward and runs three matrix
products forward and five backward, so a Llama layer's seven adapted projections made ~55 small
operations and a quarter of a CPU step went to casts and per-call overhead. Here the projections
that read one tensor (q, k, v; gate and up) share one autograd function: the input is cast once and
saved once, the frozen weights are concatenated into one bf16 matrix, the A matrices run as one
product and the B matrices as one block-diagonal product (scales folded in), and the backward forms
the input gradient with two products and every A and B gradient with one each. The numbers are the
ones PEFT computes (same products, same precision); only the order of summation differs.

It patches the forward of PEFT's LoRA modules in place while a training runs and puts everything back
afterwards (`fused(model)`), so PEFT's adapter format, saving, scaling and merging stay PEFT's. A
module that is merged, disabled, has dropout or several adapters takes PEFT's own path. This module
knows nothing of the Trainer, the data or the loss.
"""

from __future__ import annotations

import contextlib

GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"), ("o_proj",), ("down_proj",))


def _function():
    import torch

    class GroupedLoraLinear(torch.autograd.Function):
        """y = x W^T + (x A^T) Bd^T for frozen W (all projections of a group concatenated), A the group's
        A matrices stacked and Bd their B matrices block-diagonal with the scales folded in."""

        @staticmethod
        def forward(ctx, x, weight, scales, *adapters):
            k = len(adapters) // 2
            dtype = weight.dtype if not torch.is_autocast_enabled("cpu") and not torch.is_autocast_enabled("cuda") \
                else torch.get_autocast_dtype(x.device.type)
            flat = x.reshape(-1, x.shape[-1]).to(dtype)
            w = weight.to(dtype)
            a = torch.cat([t.to(dtype) for t in adapters[:k]])
            bd = _block_diagonal([t.to(dtype) * s for t, s in zip(adapters[k:], scales)])
            xa = flat @ a.T
            y = torch.addmm(flat @ w.T, xa, bd.T)
            ctx.save_for_backward(flat, xa, w, a, bd)
            ctx.meta = (x.shape, x.dtype, scales, [t.shape for t in adapters[k:]], [t.dtype for t in adapters])
            return y.view(*x.shape[:-1], y.shape[-1])

        @staticmethod
        def backward(ctx, grad):
            flat, xa, w, a, bd = ctx.saved_tensors
            shape, x_dtype, scales, b_shapes, dtypes = ctx.meta
            g = grad.reshape(-1, grad.shape[-1]).to(w.dtype)
            gb = g @ bd  # [tokens, k*r]: each group member's grad times its scaled B
            grad_x = torch.addmm(g @ w, gb, a).to(x_dtype).view(shape) if ctx.needs_input_grad[0] else None
            grad_a = (gb.T @ flat).split([s[1] for s in b_shapes])
            grad_bd = g.T @ xa
            grad_b, row, col = [], 0, 0
            for (out, r), scale in zip(b_shapes, scales):
                grad_b.append(grad_bd[row:row + out, col:col + r] * scale)
                row, col = row + out, col + r
            grads = [t.to(d) for t, d in zip(list(grad_a) + grad_b, dtypes)]
            return (grad_x, None, None, *grads)

    return GroupedLoraLinear


def _block_diagonal(blocks):
    import torch

    return blocks[0] if len(blocks) == 1 else torch.block_diag(*blocks)


_FN = None


class _Group:
    """Projections of one layer that read the same input; the first called computes all, the rest take theirs."""

    def __init__(self, modules: list, originals: list):
        import torch

        self.modules = modules
        self.originals = originals
        self.adapter = modules[0].active_adapters[0]
        self.sizes = [m.base_layer.weight.shape[0] for m in modules]
        weight = torch.cat([m.base_layer.weight.data for m in modules])
        offset = 0
        for m, size in zip(modules, self.sizes):  # the base weights become views of the concatenation: no copy
            m.base_layer.weight.data = weight[offset:offset + size]
            offset += size
        self.weight = weight
        self.pending: dict = {}
        self.source = None

    def usable(self) -> bool:
        return all(not m.disable_adapters and not m.merged and m.active_adapters == [self.adapter]
                   and isinstance(m.lora_dropout[self.adapter], _identity()) for m in self.modules)

    def forward(self, index: int, x, *args, **kwargs):
        if args or kwargs or not self.usable():
            return self.originals[index](x, *args, **kwargs)
        if self.source is x and index in self.pending:
            out = self.pending.pop(index)
            if not self.pending:
                self.source = None
            return out
        global _FN
        _FN = _FN or _function()
        scales = tuple(float(m.scaling[self.adapter]) for m in self.modules)
        adapters = [m.lora_A[self.adapter].weight for m in self.modules] + \
                   [m.lora_B[self.adapter].weight for m in self.modules]
        outs = _FN.apply(x, self.weight, scales, *adapters).split(self.sizes, dim=-1)
        self.pending = {i: o for i, o in enumerate(outs) if i != index}
        self.source = x if self.pending else None
        return outs[index]


def _identity():
    import torch

    return torch.nn.Identity


def _lora_layers(model):
    """{(parent module name, projection name): PEFT LoRA Linear} for every adapted linear."""
    from peft.tuners.lora.layer import Linear

    found = {}
    for name, module in model.named_modules():
        if isinstance(module, Linear) and type(module.base_layer).__name__ == "Linear":
            parent, _, leaf = name.rpartition(".")
            found[(parent, leaf)] = module
    return found


@contextlib.contextmanager
def fused(model):
    """Within this context, the model's LoRA projections run grouped (see the module docstring).

    The frozen base weights of a group are held as one matrix meanwhile; on leaving, each projection
    gets its forward back and its weight as a tensor of its own again."""
    layers = _lora_layers(model)
    parents = sorted({parent for parent, _ in layers})
    patched = []
    for parent in parents:
        for names in GROUPS:
            members = [layers.get((parent, n)) for n in names]
            if any(m is None for m in members) or len({m.base_layer.weight.dtype for m in members}) != 1:
                continue
            originals = [m.forward for m in members]
            group = _Group(members, originals)
            for i, m in enumerate(members):
                m.forward = (lambda g, i: lambda x, *a, **k: g.forward(i, x, *a, **k))(group, i)
            patched.append(group)
    try:
        yield len(patched)
    finally:
        for group in patched:
            for m in group.modules:
                del m.forward  # the class's forward again
                m.base_layer.weight.data = m.base_layer.weight.data.clone()
            group.weight = None
