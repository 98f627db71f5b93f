"""Which path each part of a training takes: the fast engine's own code or plain transformers + PEFT.

`RunConfig.engine` asks for `standard` (transformers + PEFT as they are: the model's own attention with packed
rows masked by transformers from their position ids, the model's own LM head and logits), `fast` (every fast
part whose computation is proven for this model) or `auto` (the fast parts where they are also the faster
choice on this device). A fast part runs only where `plan` finds what it computes equal to what the model
computes: its model family is one the parity tests cover (tests/train/test_parity.py: loss and LoRA gradients
against `standard`, packed and padded rows, fp32 and bf16), and the model has no feature the part leaves out
(soft-capped scores, logit scaling, a head bias, ...). Everything else takes the standard path, and the plan
says which path each part took and why (run summary, progress line). engine/engaged.py enters the chosen parts
for a run and leaves them. Knows nothing of the Trainer or data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anchortune.engine import families

ENGINES = ("auto", "fast", "standard")
FAMILIES = tuple(families.FAMILIES)  # model types the parity tests cover (engine/families.py)
PARTS = {  # part: what it is, as the run summary names it
    "lora_projections": "LoRA projections reading one input as one product (engine/fused_lora.py)",
    "decoder_layers": "decoder layers as one function with a hand-written backward (engine/fused_layer.py)",
    "attention": "per-example attention over packed rows (engine/packed_attention.py)",
    "loss_head": "LM head at answer positions with a fused cross-entropy (engine/loss.py)",
    "kernels": "compiled elementwise kernels (engine/native.py)",
    "frozen_bf16": "frozen linear weights held in bf16 while training (engine/precision.py)",
    "rotary_bf16": "rotary tables in bf16 for layers not fused (engine/precision.py)",
    "page_cache": "freed pages kept mapped while training (engine/page_cache.py)",
}
SOFTCAPS = ("attn_logit_softcapping",)  # config fields that change attention scores
LOGIT_SCALES = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")


@dataclass
class Part:
    """One part's path: fast (the engine's own code) or standard (transformers + PEFT), and why. A part that
    does not apply to this run (nothing to hold in bf16 in fp32, rotary tables that fused layers replace, no
    LoRA projections in full fine-tuning) is neither, and does not decide the run's path."""

    fast: bool
    why: str
    applies: bool = True

    def to_json(self) -> dict:
        return {"path": ("fast" if self.fast else "standard") if self.applies else "not needed", "why": self.why}


@dataclass
class EnginePlan:
    """What one run computes with, part by part (see the module docstring)."""

    requested: str
    device: str
    precision: str
    parts: dict[str, Part] = field(default_factory=dict)

    def uses(self, name: str) -> bool:
        part = self.parts.get(name)
        return part is not None and part.fast

    @property
    def path(self) -> str:
        """'fast' when every part that applies is fast, 'standard' when none is, else 'mixed'."""
        fast = [p.fast for p in self.parts.values() if p.applies]
        return "fast" if fast and all(fast) else "mixed" if any(fast) else "standard"

    def describe(self) -> str:
        """One line for the terminal: the path, and why each part that is not fast took the standard path."""
        line = f"engine {self.requested}: {self.path} path on {self.device}, {self.precision} compute"
        slow = {n: p.why for n, p in self.parts.items() if not p.fast and p.applies}
        if not slow:
            return line
        if self.path == "standard" and len(set(slow.values())) == 1:
            return f"{line} ({next(iter(slow.values()))})"
        return f"{line}; standard for " + "; ".join(f"{n.replace('_', ' ')} ({why})" for n, why in slow.items())

    def to_json(self) -> dict:
        return {"requested": self.requested, "path": self.path, "device": self.device, "precision": self.precision,
                "parts": {n: p.to_json() for n, p in self.parts.items()}}


EVALUATION_PARTS = ("attention", "loss_head", "kernels", "rotary_bf16")  # what scoring a model uses


def plan(model, engine: str, precision: str, lora: bool, gradient_checkpointing: bool = False,
         hold_frozen: bool = False, parts: tuple[str, ...] = tuple(PARTS), device: str | None = None) -> EnginePlan:
    """The path of each of `parts` for `model` (PEFT-wrapped for a LoRA run) under `engine` and `precision`, on
    `device` (default: where the model's weights lie)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    device = device or _device(model)
    result = EnginePlan(engine, device, precision)
    refusal = _refusal(model, engine, device)
    for name in parts:
        moot = _not_needed(name, precision, lora)
        if moot:
            result.parts[name] = Part(False, moot, applies=False)
            continue
        why = refusal or _part_refusal(name, model, precision, device, lora, gradient_checkpointing, hold_frozen)
        result.parts[name] = Part(why is None, why or _reason_for(name, precision))
    if result.uses("decoder_layers") and result.uses("rotary_bf16"):
        result.parts["rotary_bf16"] = Part(False, "the fused layers rotate with float32 tables themselves",
                                           applies=False)
    return result


def _not_needed(name: str, precision: str, lora: bool) -> str | None:
    """Why a part has nothing to do in this run (neither path applies), or None."""
    if name in ("frozen_bf16", "rotary_bf16") and precision != "bf16":
        return "fp32 compute: nothing to round to bf16"
    if name in ("lora_projections", "frozen_bf16") and not lora:
        return "full fine-tuning has no LoRA adapters"
    return None


def _refusal(model, engine: str, device: str) -> str | None:
    """Why no fast part may run for this model, engine and device at all, or None."""
    if engine == "standard":
        return "standard engine requested"
    family = _family(model)
    if family not in FAMILIES:
        return f"no parity test covers model type '{family}' (covered: {', '.join(FAMILIES)})"
    if device != "cpu" and engine == "auto":
        return f"on {device} the fast parts are not proven faster (SDPA and the device's kernels are the fast path)"
    return None


def _part_refusal(name: str, model, precision: str, device: str, lora: bool, checkpointing: bool,
                  hold: bool) -> str | None:
    """Why one part may not run fast for this model, or None where it may."""
    config = _config(model)
    if name == "frozen_bf16" and not hold:
        return "no base weights to reload after training"
    if name == "decoder_layers":
        return _layers_refusal(model, lora, checkpointing)
    if name == "attention":
        capped = [k for k in SOFTCAPS if getattr(config, k, None)]
        return f"soft-capped attention scores ({capped[0]})" if capped else None
    if name == "loss_head":
        return _head_refusal(model, config)
    if name == "kernels":
        return _kernels_refusal(precision, device)
    if name == "page_cache":
        return _pages_refusal(device)
    return None


def _layers_refusal(model, lora: bool, checkpointing: bool) -> str | None:
    from anchortune.engine import fused_layer

    if not lora:
        return "full fine-tuning (the fused layers train LoRA adapters)"
    if checkpointing:
        return "gradient checkpointing takes the layers' own forward"
    layers = _layers(model)
    known = sum(fused_layer.known(layer) for layer in layers)
    if not known:
        kinds = sorted({type(layer).__name__ for layer in layers}) or ["none found"]
        return f"decoder layer {', '.join(kinds)} is not one the fused function computes " \
               f"({', '.join(fused_layer.LAYERS)} without biases)"
    return None


def _head_refusal(model, config) -> str | None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    if head is None or getattr(head, "weight", None) is None:
        return "no linear LM head found"
    if getattr(head, "bias", None) is not None:
        return "the LM head has a bias"
    scaled = [k for k in LOGIT_SCALES if getattr(config, k, None) not in (None, 1, 1.0)]
    return f"the model scales its logits ({scaled[0]})" if scaled else None


def _kernels_refusal(precision: str, device: str) -> str | None:
    from anchortune.engine import native

    if device != "cpu":
        return f"the kernels are CPU code ({device})"
    if precision != "bf16":
        return "the kernels are bf16 only (fp32 compute)"
    return None if native.library() is not None else native.describe()


def _pages_refusal(device: str) -> str | None:
    from anchortune import allocator

    if device != "cpu":
        return f"device memory is the device allocator's ({device})"
    return None if allocator.active() else "this process runs on the system allocator (no jemalloc preloaded)"


def _reason_for(name: str, precision: str) -> str:
    if name == "kernels":
        return "compiled for this CPU"
    if name == "page_cache":
        return "jemalloc preloaded"
    return "proven for this model family by the parity tests"


def evaluation_plan(model, precision: str, engine: str = "auto") -> EnginePlan:
    """The plan an evaluation of `model` outside a training uses (no LoRA grouping, no layers fused)."""
    return plan(model, engine, precision, lora=False, parts=EVALUATION_PARTS)


def _family(model) -> str:
    return str(getattr(_config(model), "model_type", "") or type(model).__name__)


def _config(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, "config", None)


def _layers(model) -> list:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    return list(getattr(decoder, "layers", []) or [])


def _device(model) -> str:
    try:
        return next(model.parameters()).device.type
    except StopIteration:
        return "cpu"
