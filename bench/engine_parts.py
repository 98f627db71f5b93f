"""The fast engine's hand-written parts against what maintained libraries offer for the same job.

    python bench/engine_parts.py [--tokens 448] [--examples 2] [--repeats 20] [--compile] [--isa avx2]
                                 [--out bench/results]

One process, one machine, each candidate timed in turn over the same inputs (forward and backward, median of
`--repeats` after warm-up), on the bench model's shapes (SmolLM2-135M: hidden 576, 9 query and 3 key/value heads
of 64, intermediate 1536, vocabulary 49,152; LoRA r16 on all linears) and one packed training row of `--tokens`
tokens holding `--examples` examples, in the precision `auto` trains in here:

- attention: anchortune's per-example attention (engine/packed_attention.py) against SDPA with transformers'
  packed-sequence mask (what the standard engine runs) and torch's flex_attention with a document block mask
  (compiled; with `--compile`);
- LM head and loss at the answer positions: anchortune's chunked fused cross-entropy (engine/loss.py) against
  the head's logits and torch's cross-entropy (transformers' `logits_to_keep`, the standard engine); Liger's and
  Apple's fused kernels are Triton (GPU) code, named with the reason where they cannot run;
- one decoder layer with its LoRA adapters: anchortune's fused layer (engine/fused_layer.py) against the layer's
  own forward on the fast attention and grouped projections, the plain PEFT layer on SDPA, and torch.compile of
  the plain layer (with `--compile`; its compile time reported apart).

Each part's output is checked against the standard candidate (relative error of output and gradients) so a
fast wrong answer cannot win. Results: bench/results/engine_parts.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path


def timed(fn, repeats: int) -> float:
    """Median milliseconds of fn() over `repeats` calls after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def relative(a, b) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def bench_attention(args, dtype) -> list[dict]:
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import find_packed_sequence_indices

    from anchortune.engine import packed_attention
    from anchortune.engine.collate import PackCollator

    heads, kv, dim, tokens = 9, 3, 64, args.tokens
    lengths = [tokens // args.examples] * args.examples
    row = PackCollator(0, 32)([{"input_ids": [1] * n, "labels": [1] * n} for n in lengths])
    bounds, positions = row["cu_seq_lens_q"], row["position_ids"]
    width = positions.shape[1]
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, h, width, dim, dtype=dtype, requires_grad=True) for h in (heads, kv, kv))
    grad = torch.randn(1, width, heads, dim, dtype=dtype)
    segment = find_packed_sequence_indices(positions)[0]
    allowed = (segment[:, None] == segment[None, :]) & torch.ones(width, width, dtype=torch.bool).tril()
    module = type("Attn", (), {"num_key_value_groups": heads // kv, "is_causal": True, "training": True})()
    packed_attention.register()

    def ours():
        return packed_attention.attention(module, q, k, v, None, scaling=dim ** -0.5, cu_seq_lens_q=bounds)[0]

    def sdpa():
        return sdpa_attention_forward(module, q, k, v, allowed[None, None], scaling=dim ** -0.5)[0]

    candidates = {"anchortune packed attention": ours, "SDPA, transformers' packed mask (standard)": sdpa}
    if args.compile:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        def document(b, h, qi, ki):
            return (segment[qi] == segment[ki]) & (qi >= ki)

        block = create_block_mask(document, 1, 1, width, width, device="cpu")
        compiled = torch.compile(flex_attention, dynamic=False)

        def flex():
            return compiled(q, k, v, block_mask=block, scale=dim ** -0.5, enable_gqa=True).transpose(1, 2)

        candidates["flex_attention, document block mask (compiled)"] = flex
    return _compare(candidates, (q, k, v), grad, args.repeats, "SDPA, transformers' packed mask (standard)")


def _compare(candidates: dict, inputs, grad, repeats: int, reference: str) -> list[dict]:
    import torch

    results, outputs = [], {}
    for name, fn in candidates.items():
        started = time.perf_counter()
        try:
            out = fn()
            grads = torch.autograd.grad(out, inputs, grad)
        except Exception as error:  # a candidate that cannot run here is reported, not fatal
            results.append({"candidate": name, "error": f"{type(error).__name__}: {str(error)[:300]}"})
            continue
        first = time.perf_counter() - started
        outputs[name] = (out.detach(), [g.detach() for g in grads])

        def step(fn=fn):
            torch.autograd.grad(fn(), inputs, grad)

        results.append({"candidate": name, "ms": timed(step, repeats), "first_call_s": first})
    ref_out, ref_grads = outputs[reference]
    for row in results:
        if row["candidate"] in outputs:
            out, grads = outputs[row["candidate"]]
            row["output_error"] = relative(out, ref_out)
            row["grad_error"] = max(relative(g, r) for g, r in zip(grads, ref_grads))
    return results


def bench_head(args, dtype, config) -> list[dict]:
    import torch

    from anchortune.engine import loss

    torch.manual_seed(0)
    positions = args.tokens * 3 // 4  # answer positions of the row
    hidden = torch.randn(positions, config.hidden_size, dtype=torch.float32, requires_grad=True)
    weight = (torch.randn(config.vocab_size, config.hidden_size) * 0.02).requires_grad_(False)
    targets = torch.randint(0, config.vocab_size, (positions,))
    one = torch.ones(())
    autocast = loss.autocast("bf16" if dtype == torch.bfloat16 else "fp32")
    fused = loss._linear_cross_entropy()

    def ours():
        with autocast:
            return fused.apply(hidden, weight, targets)

    def standard():
        with autocast:
            logits = torch.nn.functional.linear(hidden, weight)
        return torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")

    candidates = {"anchortune fused chunked cross-entropy": ours,
                  "head logits + torch cross-entropy (standard)": standard}
    if args.compile:
        candidates["head logits + cross-entropy, torch.compile"] = torch.compile(standard, dynamic=False)
    rows = _compare(candidates, (hidden,), one, args.repeats, "head logits + torch cross-entropy (standard)")
    try:
        import liger_kernel  # noqa: F401

        rows.append({"candidate": "Liger fused linear cross-entropy", "error": "installed, but Triton GPU code"})
    except ImportError:
        rows.append({"candidate": "Liger / Apple CCE fused linear cross-entropy",
                     "error": "not run: Triton kernels for GPUs, no CPU implementation"})
    return rows


def bench_layer(args, dtype, config) -> list[dict]:
    import copy

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    from anchortune.engine import paths
    from anchortune.engine.engaged import engaged
    from anchortune.engine.collate import PackCollator

    one_layer = copy.deepcopy(config)
    one_layer.num_hidden_layers = 1
    torch.manual_seed(0)
    model = get_peft_model(LlamaForCausalLM(one_layer), LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(std=0.002)
    model.train()
    base = model.get_base_model()
    layer = base.model.layers[0]
    lengths = [args.tokens // args.examples] * args.examples
    row = PackCollator(0, 32)([{"input_ids": [1] * n, "labels": [1] * n} for n in lengths])
    width = row["position_ids"].shape[1]
    hidden = torch.randn(1, width, config.hidden_size, requires_grad=True)
    grad = torch.randn(1, width, config.hidden_size)
    cos_sin = base.model.rotary_emb(hidden, row["position_ids"])
    precision = "bf16" if dtype == torch.bfloat16 else "fp32"
    adapters = [p for p in model.parameters() if p.requires_grad]

    def call(with_bounds: bool, target=None):
        target = layer if target is None else target
        extra = {"cu_seq_lens_q": row["cu_seq_lens_q"]} if with_bounds else {}
        mask = None
        if not with_bounds:  # the standard engine: transformers' packed mask from the position ids
            from transformers.masking_utils import create_causal_mask

            mask = create_causal_mask(config=base.config, inputs_embeds=hidden, attention_mask=None,
                                      cache=None, position_ids=row["position_ids"])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            return target(hidden, attention_mask=mask, position_ids=row["position_ids"],
                          position_embeddings=cos_sin, **extra)

    def run_under(engine: str, parts: tuple | None = None):
        plan = paths.plan(model, engine, precision, lora=True)
        if parts is not None:
            for name in plan.parts:
                plan.parts[name].fast = plan.parts[name].fast and name in parts
        return plan

    results = []
    reference = None
    specs = [("anchortune fused layer", run_under("fast"), True),
             ("the layer's own forward, fast attention and grouped LoRA", run_under("fast", ("attention",
                                                                                           "lora_projections")), True),
             ("the PEFT layer on SDPA with transformers' packed mask (standard)", run_under("standard"), False)]
    for name, plan, bounds in specs:
        with engaged(model, plan):
            def step(bounds=bounds):
                out = call(bounds)
                torch.autograd.grad(out, [hidden, *adapters], grad)
                return out
            started = time.perf_counter()
            out = call(bounds)
            grads = torch.autograd.grad(out, [hidden, *adapters], grad)
            first = time.perf_counter() - started
            results.append({"candidate": name, "ms": timed(step, args.repeats), "first_call_s": first,
                            "_out": out.detach(), "_grads": [g.detach() for g in grads]})
    if args.compile:
        compiled = torch.compile(layer, dynamic=False)
        started = time.perf_counter()
        out = call(False, compiled)
        grads = torch.autograd.grad(out, [hidden, *adapters], grad)
        first = time.perf_counter() - started
        results.append({"candidate": "torch.compile of the PEFT layer (standard)",
                        "ms": timed(lambda: torch.autograd.grad(call(False, compiled), [hidden, *adapters], grad),
                                    args.repeats), "first_call_s": first, "_out": out.detach(),
                        "_grads": [g.detach() for g in grads]})
    reference = next(r for r in results if "(standard)" in r["candidate"] and "compile" not in r["candidate"])
    for r in results:
        r["output_error"] = relative(r["_out"], reference["_out"])
        r["grad_error"] = max(relative(g, ref) for g, ref in zip(r["_grads"], reference["_grads"]))
    for r in results:
        del r["_out"], r["_grads"]
    return results


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"# The engine's parts against maintained libraries ({result['precision']}, {result['tokens']}-token row, "
             f"{result['examples']} examples)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_cpu_capability']} kernels; "
             f"ISA flags {' '.join(m['isa_flags'])}). Forward and backward, median of {result['repeats']} after "
             "warm-up; errors relative to the standard candidate's output and gradients (the largest over inputs "
             "and adapters).", ""]
    for part, rows in result["parts"].items():
        lines += [f"## {part}", "", "| candidate | ms | first call s | output error | gradient error |",
                  "|---|---|---|---|---|"]
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['candidate']} | - | - | - | {r['error']} |")
            else:
                lines.append(f"| {r['candidate']} | {r['ms']:.2f} | {r['first_call_s']:.1f} | "
                             f"{r.get('output_error', 0):.1e} | {r.get('grad_error', 0):.1e} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=448)
    parser.add_argument("--examples", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--compile", action="store_true", help="Also time torch.compile'd candidates.")
    parser.add_argument("--isa", choices=["avx2"], help="As on a CPU with this ISA only (bench/train_throughput.py).")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_throughput import EMULATE, machine

    if args.isa:  # before torch loads: its kernels, oneDNN and MKL read these once
        os.environ.update(EMULATE[args.isa])

    import torch
    from transformers import AutoConfig

    from anchortune.app import models as app_models
    from anchortune.engine import precision

    config = AutoConfig.from_pretrained(app_models.prepare_model(None))
    chosen = precision.choose("auto")
    dtype = torch.bfloat16 if chosen == "bf16" else torch.float32
    result = {"machine": machine(), "precision": chosen, "tokens": args.tokens, "examples": args.examples,
              "repeats": args.repeats, "compile": args.compile, "parts": {}}
    result["parts"]["attention (one layer)"] = bench_attention(args, dtype)
    result["parts"]["LM head and loss"] = bench_head(args, dtype, config)
    result["parts"]["decoder layer with LoRA"] = bench_layer(args, dtype, config)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "engine_parts" + (f"_{args.isa}" if args.isa else "")
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
