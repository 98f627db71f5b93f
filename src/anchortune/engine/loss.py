"""Answer loss: token-weighted cross-entropy on answer tokens only, for training and evaluation alike.

The LM head (a 49k-word vocabulary for SmolLM2) runs only at positions that predict an answer token,
never over prompt or padding, in chunks whose softmax gradient is formed during the forward pass (the
fused linear cross-entropy of Liger and Apple's CCE, here in plain PyTorch): no [tokens x vocabulary]
float tensor is kept for backward. Measured against the model's own head at the answer positions
(transformers' `logits_to_keep`, the standard engine): bench/results/engine_parts.md; its history:
bench/results/engine_history.md.
"""

from __future__ import annotations

import contextlib

from anchortune.data.tokenize import IGNORE
from anchortune.engine import context as engine_context
from anchortune.engine.collate import PAD_MULTIPLE, PackCollator, padded_width, token_rows

ROW_TOKENS = 1024  # tokens per packed evaluation row (rows of 2, 4 and 8 examples: 4, ~1k tokens, was fastest)
# positions per LM-head product at most: [384 x 49k] logits, 38 MB in bf16. A call's positions are split into
# equal chunks, not full ones and a remainder: the head's products cost per position ~140 us from ~200 rows up
# and ~180-220 us at 64-96 rows (2 cores), and a micro-batch's ~330 answer positions as 256 + ~80 had made the
# remainder chunk nearly as slow as the full one (profiled step loop: 18.4 against 39 ms).
CHUNK = 384
ROWS = 16  # positions per float32 softmax: [16 x 49k], ~3 MB, stays in cache (256 rows: ~50 MB, ~3x slower)


def autocast(precision: str, device: str = "cpu"):
    """bf16 autocast for 'bf16', nothing for 'fp32'."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _linear_cross_entropy():
    import torch

    from anchortune.engine import native

    class LinearCrossEntropy(torch.autograd.Function):
        """sum over rows of -log softmax(hidden @ weight.T)[target]; gradients made in forward, chunk by chunk."""

        @staticmethod
        def forward(ctx, hidden, weight, targets):
            needs_h, needs_w = hidden.requires_grad, weight.requires_grad
            device = hidden.device.type
            # under autocast, cast once here: autocast would cast the whole head again for every product
            dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
            w = _cast(weight, dtype)  # [vocabulary, hidden], possibly a transposed view of a [hidden, vocabulary] copy
            total = torch.zeros((), dtype=torch.float32, device=hidden.device)
            grad_h = torch.empty_like(hidden) if needs_h else None
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if needs_w else None
            buffer = _buffer("logits", w.shape[0], dtype, hidden.device)
            # compiled kernel (engine/native.py) where it can run; out-of-range targets take torch's path and its error
            fast = dtype == torch.bfloat16 and targets.dtype == torch.int64 and native.ready(hidden) \
                and (targets.numel() == 0 or (int(targets.min()) >= 0 and int(targets.max()) < w.shape[0]))
            rows_in = _buffer("hidden", hidden.shape[1], dtype, hidden.device)
            count = hidden.shape[0]
            size = -(-count // max(1, -(-count // CHUNK)))  # equal chunks of at most CHUNK positions
            for start in range(0, count, size):
                t = targets[start:start + size]
                n = len(t)
                rows = min(padded_width(n, PAD_MULTIPLE), CHUNK)  # zero rows up to a width the products have seen
                h = rows_in[:rows]
                h[:n] = hidden[start:start + n]
                h[n:] = 0
                logits = torch.mm(h, w.T, out=buffer[:rows])  # rows past n: exact zeros, and so is their gradient
                if fast:  # one pass: log-softmax at the targets, the gradient written over the logits
                    total -= native.softmax_xent(logits[:n], t.contiguous(), needs_h or needs_w)
                else:
                    total -= _log_softmax_rows(logits[:n], t, needs_h or needs_w)
                if needs_h:
                    grad_h[start:start + n] = (logits @ w)[:n]
                if needs_w:
                    grad_w += (logits.T @ h).float()
            ctx.save_for_backward(grad_h, grad_w)
            ctx.weight_dtype = weight.dtype
            return total

        @staticmethod
        def backward(ctx, grad_total):
            grad_h, grad_w = ctx.saved_tensors
            return (grad_h * grad_total.to(grad_h.dtype) if grad_h is not None else None,
                    (grad_w * grad_total).to(ctx.weight_dtype) if grad_w is not None else None, None)

    return LinearCrossEntropy


def _log_softmax_rows(logits, targets, grad: bool):
    """Sum of log softmax(logits)[target] (a float32 scalar), ROWS rows at a time so that their float32 softmax
    stays in cache; with `grad` the rows are overwritten by their gradient, softmax - onehot(target)."""
    import torch

    total = torch.zeros((), dtype=torch.float32, device=logits.device)
    for row in range(0, len(targets), ROWS):
        x, t = logits[row:row + ROWS], targets[row:row + ROWS]
        logp = torch.log_softmax(x, dim=-1, dtype=torch.float32)
        total += logp.gather(1, t[:, None]).sum()
        if grad:
            soft = logp.exp_()  # softmax, in place
            soft[torch.arange(len(t), device=t.device), t] -= 1
            x.copy_(soft)
    return total


_FUNCTION = None


def _buffer(name: str, width: int, dtype, device):
    """The engaged run's [CHUNK x width] buffer `name` for this dtype and device (made on first use; kept in the
    run's engine context, engine/context.py, and made for each call outside an engaged run).

    "logits": a fresh tensor of that size (25-38 MB in bf16) is handed to the process by the allocator page by
    page at every chunk, a cost comparable to the head's product itself on 2 CPU cores; one reused buffer pays
    it once. "hidden": a chunk's positions with zero rows after them up to a multiple of PAD_MULTIPLE, so the
    products see a few row counts: oneDNN keeps a kernel for every shape it meets (~0.6 MB each for the head's
    two products, measured), and a run's answer counts differ from micro-batch to micro-batch."""
    import torch

    run = engine_context.current()
    held = run.buffers.get(name) if run is not None else None
    if held is None or held.shape != (CHUNK, width) or held.dtype != dtype or held.device != torch.device(device):
        with torch.inference_mode(False):  # usable for evaluation (inference mode) and training alike
            held = torch.empty(CHUNK, width, dtype=dtype, device=device)
        if run is not None:
            run.buffers[name] = held
    return held


def _cast(weight, dtype):
    """The weight in `dtype`, cached in the engaged run's context while the weight is unchanged (its version
    counter) and frozen.

    The cached copy is stored transposed, [hidden x vocabulary], and returned as its transposed view (the
    weight's shape): oneDNN's bf16 product takes the gradient logits @ head ~25 % faster from that layout
    (224 x 49k by 49k x 576 on 2 cores: 20.0 -> 15.3 ms) and the logits ~12 % slower (15.0 -> 17.0 ms): the
    training loss of 448 positions, forward and backward, 88 -> 69 ms, the same numbers bit for bit, with no
    memory beyond the cast it replaces."""
    if weight.dtype == dtype:
        return weight
    if weight.requires_grad:
        return weight.to(dtype)
    import weakref

    import torch

    run = engine_context.current()
    casts = run.casts if run is not None else {}
    held = casts.get(id(weight))
    if held is None or held[0]() is not weight or held[1] != weight._version or held[2] != dtype:
        casts.clear()  # one head at a time: the model being trained or evaluated
        copy = torch.empty(weight.shape[::-1], dtype=dtype, device=weight.device).copy_(weight.detach().T).T
        held = casts[id(weight)] = (weakref.ref(weight), weight._version, dtype, copy)
    return held[3]


def answer_nll(model, input_ids, attention_mask, labels, fast_head: bool = True, **packing):
    """(summed negative log-likelihood, number of answer tokens) of a right-padded batch, or of a packed row
    (PackCollator: `packing` holds its position_ids and cu_seq_lens_q, and the model gets no attention mask).

    With `fast_head` the decoder's hidden states go through LinearCrossEntropy at the answer positions; without
    it (engine/paths.py: a head with a bias, soft-capped or scaled logits, or the standard engine) the model's own
    forward computes its logits at those positions (transformers' `logits_to_keep`), whatever it does to them."""
    global _FUNCTION
    inner = unwrap(model)
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    head = base.get_output_embeddings()
    targets = labels[:, 1:]
    keep = targets != IGNORE
    if packing:
        attention_mask = None
    if not fast_head or getattr(head, "bias", None) is not None or inner is not model:  # DDP: through its forward
        return model_nll(model, input_ids, attention_mask, targets, keep, packing.get("position_ids")), \
            int(keep.sum())
    hidden = base.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                                **packing).last_hidden_state
    _FUNCTION = _FUNCTION or _linear_cross_entropy()
    return _FUNCTION.apply(hidden[:, :-1][keep], head.weight, targets[keep]), int(keep.sum())


def unwrap(model):
    """The model inside torch's DistributedDataParallel wrapper (whose forward syncs the gradients, so the loss
    goes through it), or the model itself."""
    return model.module if type(model).__name__ == "DistributedDataParallel" else model


def model_nll(model, input_ids, attention_mask, targets, keep, position_ids=None):
    """Summed NLL of `targets[keep]` from the model's own forward: logits only where an answer token is
    predicted (a boolean `logits_to_keep`, where the model's forward takes one), in float32. A packed row
    goes in with its position ids and no attention mask: transformers masks each example to itself."""
    import inspect

    import torch

    inner = unwrap(model)
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    inputs = {"input_ids": input_ids, "use_cache": False}
    if position_ids is not None:
        inputs["position_ids"] = position_ids
    else:
        inputs["attention_mask"] = attention_mask
    if "logits_to_keep" in inspect.signature(base.forward).parameters:
        at = torch.nn.functional.pad(keep, (0, 1), value=False)  # position p predicts token p + 1
        logits = model(**inputs, logits_to_keep=at).logits
        logits = logits.reshape(-1, logits.shape[-1])  # [answer tokens, vocabulary], in the order of targets[keep]
    else:
        logits = model(**inputs).logits[:, :-1][keep]
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep], reduction="sum")


def answer_loss(model, examples: list[dict], pad_id: int, batch_size: int = 8, precision: str = "fp32") -> float:
    """Mean negative log-likelihood per answer token over all examples (nan when there are none).

    The examples, sorted by length, are packed into rows of up to ROW_TOKENS tokens (PackCollator), each
    attending to itself only, as training sees them: no padding between examples (30 Bitext rows, 6.3k
    tokens, bench model: ~8.6 s in rows of up to 4 examples against ~9.7 s padded in batches of 8). Each part
    computes as the engaged run's plan says (engine/engaged.py; outside an engaged run, the standard path):
    per-example attention (engine/packed_attention.py) or transformers' own masks from the position ids, the
    fused LM head or the model's own logits. `batch_size` is kept for callers that size evaluation by examples;
    rows are sized by tokens."""
    import torch

    if not examples:
        return float("nan")
    run = engine_context.current()
    plan = run.plan if run is not None else None
    fast_attention = plan is not None and plan.uses("attention")
    fast_head = plan is not None and plan.uses("loss_head")
    collate = PackCollator(pad_id, PAD_MULTIPLE)
    ordered = sorted(examples, key=lambda e: len(e["input_ids"]))
    device = next(model.parameters()).device
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(precision, device.type):
        for row in token_rows([len(e["input_ids"]) for e in ordered], ROW_TOKENS):
            batch = {k: v.to(device) for k, v in collate([ordered[i] for i in row]).items()}
            packing = {"position_ids": batch["position_ids"]}
            if fast_attention:
                packing["cu_seq_lens_q"] = batch["cu_seq_lens_q"]
            nll, n = answer_nll(model, batch["input_ids"], batch["attention_mask"], batch["labels"], fast_head,
                                **packing)
            total += float(nll)
            count += n
    model.train(was_training)
    return total / count if count else float("nan")


def example_nlls(model, examples: list[dict], pad_id: int, precision: str = "fp32") -> list[float]:
    """Each example's summed negative log-likelihood of its target tokens, in the examples' order: sorted by length
    and packed into rows of up to ROW_TOKENS tokens as `answer_loss` packs them (each example attending to itself,
    its first label ignored, as no position of a padded batch predicts an example's first token either), logits at
    the target positions only, from the model's own forward. Short examples (cloze endings, ~7 tokens) cost a
    forward per padded batch of 16 before (the general set's 200 cloze sequences: 2.75 s a measurement on 2 cores);
    packed, the same tokens take ~1 s."""
    import inspect

    import torch

    if not examples:
        return []
    run = engine_context.current()
    fast_attention = run is not None and run.plan.uses("attention")
    inner = unwrap(model)
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    keeps_logits = "logits_to_keep" in inspect.signature(base.forward).parameters
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["input_ids"]))
    collate = PackCollator(pad_id, PAD_MULTIPLE)
    device = next(model.parameters()).device
    sums = [0.0] * len(examples)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(precision, device.type):
        for row in token_rows([len(examples[i]["input_ids"]) for i in order], ROW_TOKENS):
            members = [order[k] for k in row]
            batch = {k: v.to(device) for k, v in collate([examples[i] for i in members]).items()}
            targets = batch["labels"][:, 1:]
            keep = targets != IGNORE
            inputs = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"], "use_cache": False}
            if fast_attention:
                inputs["cu_seq_lens_q"] = batch["cu_seq_lens_q"]
            if keeps_logits:
                logits = model(**inputs, logits_to_keep=torch.nn.functional.pad(keep, (0, 1), value=False)).logits
                logits = logits.reshape(-1, logits.shape[-1])
            else:
                logits = model(**inputs).logits[:, :-1][keep]
            nll = torch.nn.functional.cross_entropy(logits.float(), targets[keep], reduction="none")
            predicted = keep[0].nonzero()[:, 0] + 1  # the row position of each predicted token
            owner = torch.searchsorted(batch["cu_seq_lens_q"][1:].to(predicted.dtype), predicted, right=True)
            per = torch.zeros(len(members), dtype=nll.dtype, device=device).index_add_(0, owner, nll)
            for k, i in enumerate(members):
                sums[i] = float(per[k])
    model.train(was_training)
    return sums
