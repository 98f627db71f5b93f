"""The one door into the fast engine: `engaged` enters every part a run's plan (engine/paths.py) chose and leaves
every one of them on any exit.

Entering means, part by part: LoRA projections grouped (engine/fused_lora.py) and decoder layers fused over the
groups (engine/fused_layer.py), the model's attention switched to per-example attention over packed rows
(engine/packed_attention.py), rotary tables in the compute dtype (engine/precision.py), frozen linear weights held in
bf16 (engine/precision.py: full precision reloaded from `base_source` when the block ends normally; a failed run's
model is dropped), the compiled kernels allowed or not (engine/native.py), the fused LM head chosen (engine/loss.py
reads the plan) and the allocator's freed pages kept for the training's next steps (engine/page_cache.py). The run's
`EngineContext` (engine/context.py) is this thread's for the time: the parts keep their caches in it, not in a
module. A run session (train/session.py) is the only caller. Knows nothing of the Trainer, data or run folders.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from anchortune.engine import context as context_mod
from anchortune.engine.context import EngineContext
from anchortune.engine.paths import EnginePlan


@contextlib.contextmanager
def engaged(model, plan: EnginePlan, context: EngineContext | None = None, training: bool = True, pages=None,
            base_source: str | Path | None = None):
    """Within this block the model computes with the plan's fast parts (see the module docstring), `context` (a
    fresh one if None) holding what they keep. Yields the context. `training=False` enters what scoring a model
    uses only (attention, rotary tables, kernels, the LM head); `pages` is the training's PageCache."""
    from anchortune.engine import fused_layer, fused_lora, packed_attention, precision

    context = context or EngineContext()
    outer = (context.plan, context.kernels)
    with contextlib.ExitStack() as stack:
        stack.enter_context(context_mod.active(context))
        context.plan, context.kernels = plan, plan.uses("kernels")
        stack.callback(_leave, context, outer)
        if training and pages is not None and plan.uses("page_cache"):
            pages.open()
            stack.callback(pages.close)
        if training and plan.uses("frozen_bf16"):
            stack.enter_context(_held_in_bf16(model, plan.precision, base_source))
        if training and plan.uses("lora_projections"):
            groups = stack.enter_context(fused_lora.fused(model, context))
            if plan.uses("decoder_layers"):
                stack.enter_context(fused_layer.fused_layers(model, groups))
        if plan.uses("attention"):
            stack.enter_context(packed_attention.packed(model))
        if plan.uses("rotary_bf16"):
            stack.enter_context(precision.rotary_in_compute_dtype(model))
        yield context


def _leave(context: EngineContext, outer: tuple) -> None:
    """What leaving puts back: the plan and kernels of an engagement around this one (or none)."""
    context.plan, context.kernels = outer


@contextlib.contextmanager
def _held_in_bf16(model, precision: str, base_source):
    """The frozen linears held in bf16 while the block runs; full precision reloaded when it ends normally."""
    from anchortune.engine import precision as precision_mod

    held = precision_mod.hold_frozen_linears(model, precision)
    yield
    if held:  # an exception skips this: a failed or cancelled run is dropped, nothing reloads
        precision_mod.restore_linears(model, held, base_source)
