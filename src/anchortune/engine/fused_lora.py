"""Fused LoRA projections for training: the projections that read the same input run as one.

PEFT computes every LoRA linear as base(x) + B(A(x)) * scale, module by module: under bf16 autocast
each call casts its input twice, saves its own bf16 copy of it for backward and runs three matrix
products forward and five backward, so a Llama layer's seven adapted projections made ~55 small
operations and a quarter of a CPU step went to casts and per-call overhead. Here the projections
that read one tensor (q, k, v; gate and up) share one autograd function: the input is cast once and
saved once, the frozen weights are concatenated into one bf16 matrix, the A matrices run as one
product and the B matrices as one block-diagonal product (scales folded in), and the backward forms
the input gradient with two products and every A and B gradient with one each. The numbers are the
ones PEFT computes (same products, same precision); only the order of summation differs. Frozen biases
(Qwen2's q/k/v) are concatenated too and added as the base products' bias, as `nn.Linear` adds them; a
trainable bias (PEFT's `bias="all"`) takes PEFT's own path.

The frozen weight, the stacked A and the block-diagonal B of a group are cast and assembled once per
optimizer step (`_Group.operands`, keyed on the run's step count and the adapter tensors' versions), not at every
micro-batch. The
same products (`lora_forward`, `lora_backward`) serve engine/fused_layer.py, which computes whole decoder
layers over these groups.

It patches the forward of PEFT's LoRA modules in place while a training runs and puts everything back
afterwards (`fused(model)`), so PEFT's adapter format, saving, scaling and merging stay PEFT's. A
module that is merged, disabled, has dropout or several adapters takes PEFT's own path. This module
knows nothing of the Trainer, the data or the loss.
"""

from __future__ import annotations

import contextlib

GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"), ("o_proj",), ("down_proj",))


def lora_forward(flat, weight, a, bd, bias=None):
    """(flat W^T + bias + (flat A^T) Bd^T, flat A^T) for one group's operands (see `_Group.operands`)."""
    xa = flat @ a.T
    base = flat @ weight.T if bias is None else bias.addmm(flat, weight.T)  # torch.addmm: bias broadcast per row
    return base.addmm_(xa, bd.T), xa


def lora_backward(grad, flat, xa, weight, a, bd, input_grad: bool = True):
    """(input gradient or None, gradient of the stacked A, gradient of the block-diagonal B) of `lora_forward`."""
    gb = grad @ bd  # [tokens, k*r]: each group member's grad times its scaled B
    grad_x = (grad @ weight).addmm_(gb, a) if input_grad else None
    return grad_x, gb.T @ flat, grad.T @ xa


def _function():
    import torch

    class GroupedLoraLinear(torch.autograd.Function):
        """y = x W^T + (x A^T) Bd^T for frozen W (all projections of a group concatenated), A the group's
        A matrices stacked and Bd their B matrices block-diagonal with the scales folded in."""

        @staticmethod
        def forward(ctx, x, group, *adapters):
            dtype = compute_dtype(x, group.weight)
            w, a, bd = group.operands(dtype)
            flat = x.reshape(-1, x.shape[-1]).to(dtype)
            y, xa = lora_forward(flat, w, a, bd, group.bias(dtype))
            ctx.save_for_backward(flat, xa, w, a, bd)
            ctx.meta = (x.shape, x.dtype, group)
            return y.view(*x.shape[:-1], y.shape[-1])

        @staticmethod
        def backward(ctx, grad):
            flat, xa, w, a, bd = ctx.saved_tensors
            shape, x_dtype, group = ctx.meta
            g = grad.reshape(-1, grad.shape[-1]).to(w.dtype)
            grad_x, grad_a, grad_bd = lora_backward(g, flat, xa, w, a, bd, ctx.needs_input_grad[0])
            grad_x = grad_x.to(x_dtype).view(shape) if grad_x is not None else None
            return (grad_x, None, *group.adapter_grads(grad_a, grad_bd))

    return GroupedLoraLinear


def _block_diagonal(blocks):
    import torch

    return blocks[0] if len(blocks) == 1 else torch.block_diag(*blocks)


def compute_dtype(x, weight):
    """The autocast dtype where autocast is on for x's device, else the frozen weight's dtype."""
    import torch

    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else weight.dtype


_FN = None


class _Group:
    """Projections of one layer that read the same input; the first called computes all, the rest take theirs."""

    def __init__(self, modules: list, originals: list, context):
        import torch

        self.context = context  # the run's engine context: its optimizer steps (engine/context.py)
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
        biases = [m.base_layer.bias for m in modules]
        self._bias = None if all(b is None for b in biases) else torch.cat(
            [b.detach() if b is not None else weight.new_zeros(size) for b, size in zip(biases, self.sizes)])
        self._bias_cast = None
        self.pending: dict = {}
        self.source = None
        self._operands = None
        # the trained tensors, as the autograd function takes them: every member's A, then every member's B
        # (looked up once: PEFT's module dictionaries cost ~0.2 ms a layer at every call; loading a checkpoint
        # copies into these same tensors)
        self._adapters = [m.lora_A[self.adapter].weight for m in modules] + \
                         [m.lora_B[self.adapter].weight for m in modules]

    def adapters(self) -> list:
        return self._adapters

    def scales(self) -> list[float]:
        return [float(m.scaling[self.adapter]) for m in self.modules]

    def operands(self, dtype):
        """(frozen weight, stacked A, block-diagonal scaled B) in `dtype`, made again only after an optimizer
        step or when an adapter tensor changed otherwise (loading a checkpoint copies into it, which bumps its
        version): once per optimizer step, not at every micro-batch and evaluation batch (~10 casts and copies a
        group each time). The step count is the run's (its engine context, told by the training after each
        optimizer step): a fused AdamW (the Trainer's default) updates the tensors without bumping their versions."""
        adapters = self._adapters
        key = (dtype, self.context.steps, tuple(self.scales()), tuple((t.data_ptr(), t._version) for t in adapters))
        if self._operands is None or self._operands[0] != key:
            import torch

            k = len(self.modules)
            with torch.inference_mode(False), torch.no_grad():  # made in an evaluation, saved by training
                a = torch.cat([t.to(dtype) for t in adapters[:k]])
                bd = _block_diagonal([t.to(dtype) * s for t, s in zip(adapters[k:], self.scales())])
            self._operands = (key, self.weight.to(dtype), a, bd)
        return self._operands[1:]

    def bias(self, dtype):
        """The members' frozen biases concatenated, in `dtype` (None where no member has one)."""
        if self._bias is None:
            return None
        if self._bias_cast is None or self._bias_cast.dtype != dtype:
            self._bias_cast = self._bias.to(dtype)
        return self._bias_cast

    def adapter_grads(self, grad_a, grad_bd) -> list:
        """Gradients of `adapters()` (each in its tensor's dtype) from those of the stacked A and block-diagonal B:
        one cast a product and views of it (not a slice, product and cast per tensor: ~20 small operations a
        layer less)."""
        scales, k, adapters = self.scales(), len(self.modules), self._adapters
        dtype = adapters[0].dtype
        if any(t.dtype != dtype for t in adapters):
            grads = list(grad_a.split([t.shape[0] for t in adapters[:k]]))
            grads += [block * s for block, s in zip(self._blocks(grad_bd), scales)]
            return [g.to(t.dtype) for g, t in zip(grads, adapters)]
        grads = list(grad_a.to(dtype).split([t.shape[0] for t in adapters[:k]]))
        bd = grad_bd.to(dtype)  # a fresh product (or its cast): scaled in place
        if len(set(scales)) == 1:
            return grads + self._blocks(bd.mul_(scales[0]))
        return grads + [block * s for block, s in zip(self._blocks(bd), scales)]

    def _blocks(self, bd) -> list:
        """The diagonal blocks of a [sum of outputs x k*r] matrix: each member's B-shaped view."""
        blocks, row, col = [], 0, 0
        for t in self._adapters[len(self.modules):]:
            out, r = t.shape
            blocks.append(bd[row:row + out, col:col + r])
            row, col = row + out, col + r
        return blocks

    def usable(self) -> bool:
        return all(not m.disable_adapters and not m.merged and m.active_adapters == [self.adapter]
                   and isinstance(m.lora_dropout[self.adapter], _identity())
                   and (m.base_layer.bias is None or not m.base_layer.bias.requires_grad) for m in self.modules)

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
        outs = _FN.apply(x, self, *self.adapters()).split(self.sizes, dim=-1)
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
def fused(model, context=None):
    """Within this context, the model's LoRA projections run grouped (see the module docstring).

    The frozen base weights of a group are held as one matrix meanwhile; on leaving, each projection
    gets its forward back and its weight as a tensor of its own again. `context` (engine/context.py) counts the
    run's optimizer steps; without one the operands are made again only when an adapter's version changes.
    Yields {LoRA module: its group}."""
    from anchortune.engine.context import EngineContext

    context = context or EngineContext()
    layers = _lora_layers(model)
    parents = sorted({parent for parent, _ in layers})
    patched = []
    for parent in parents:
        for names in GROUPS:
            members = [layers.get((parent, n)) for n in names]
            if any(m is None for m in members) or len({m.base_layer.weight.dtype for m in members}) != 1:
                continue
            originals = [m.forward for m in members]
            group = _Group(members, originals, context)
            for i, m in enumerate(members):
                m.forward = (lambda g, i: lambda x, *a, **k: g.forward(i, x, *a, **k))(group, i)
            patched.append(group)
    try:
        yield {m: group for group in patched for m in group.modules}
    finally:
        for group in patched:
            for m in group.modules:
                del m.forward  # the class's forward again
                m.base_layer.weight.data = m.base_layer.weight.data.clone()
            group.weight = group._operands = group._bias = group._bias_cast = None
