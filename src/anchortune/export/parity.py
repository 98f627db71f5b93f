"""The parity gate of a GGUF export: the same held-out conversations through llama.cpp and through PyTorch.

For each conversation (the run's held-out anchor points, framed by the task preset) it compares
- the prompt: the GGUF's own chat template rendered by llama-cpp-python's Jinja formatter against transformers'
  rendering, and the token ids llama.cpp makes of that text against the tokenizer's (template mismatches);
- the end tokens: every token transformers stops at must be an end-of-generation token in llama.cpp;
- the greedy answer: identical answers, the share of answer tokens before the first difference, and (the gated
  figure) how often llama.cpp's top token is one PyTorch ranks best along PyTorch's greedy answer, fed the same
  prefix: its own argmax, or a token PyTorch puts within the quantisation's near-tie margin (TIES) of it. One
  near-tie flipped by quantisation changes the rest of a long answer, so identical answers alone mostly measure
  answer length (on the demo support run: f16 and f32 GGUF 100 % identical, q8_0 30 % identical over 64 tokens
  with the answer loss 0.03 % apart); and a near-tie flipped is rounding, not a wrong weight (the strict share,
  argmax against argmax, is reported beside it as exact_top_token);
- the loss of the reference answer: mean negative log-likelihood per token under both, and its difference.
An export whose answers disagree beyond the bound of its quantisation (BOUNDS), or that has any template or
end-token mismatch, fails, with the reason. llama-cpp-python is optional (`make export-tools`); without it the
gate says so and the export is marked unchecked, not passed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from anchortune import libraries

# quantisation: (least share of same top tokens along the greedy answers, most relative difference of the answer
# loss). f16 reproduces PyTorch's fp32 answers exactly on the demo run; q8_0 (~8.5 bits a weight, activations
# quantised too) moves a 135M model's answer loss well under 1 %; q4_k_m moves it a few percent.
BOUNDS = {"f16": (0.99, 0.01), "bf16": (0.97, 0.02), "q8_0": (0.95, 0.03), "q4_k_m": (0.85, 0.15)}
# quantisation: how far below PyTorch's best (in log-probability, nats) a token may lie and still count as a tie that
# rounding may flip: about the size of the logit error each format makes (f16's 11-bit mantissa: ~0.01; q8_0's
# per-block 8-bit weights and activations: ~0.1). A wrong weight moves the answer loss too (the second bound).
TIES = {"f16": 0.01, "bf16": 0.05, "q8_0": 0.1, "q4_k_m": 0.25}


@dataclass
class Parity:
    """What the gate found; `passed` is None where it could not run (`reason` says why)."""

    quant: str
    passed: bool | None
    reason: str
    prompts: int = 0
    identical_answers: float | None = None
    agreeing_tokens: float | None = None  # share of answer tokens before the first difference, averaged
    same_top_token: float | None = None  # llama.cpp's argmax is PyTorch's, or within TIES of it, along its answers
    exact_top_token: float | None = None  # llama.cpp's argmax = PyTorch's, no margin
    loss_pytorch: float | None = None
    loss_gguf: float | None = None
    loss_difference: float | None = None  # relative, |gguf - pytorch| / pytorch
    template_mismatches: int = 0
    token_mismatches: int = 0
    end_token_mismatches: list[str] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def check(gguf_path: Path, model_dir: Path, conversations: list[list[dict]], quant: str,
          max_new_tokens: int = 64, samples: int = 3) -> Parity:
    """Replay `conversations` (each ending with the reference assistant answer) through both models."""
    try:
        import llama_cpp
    except ImportError:
        return Parity(quant, None, "llama-cpp-python is not installed here (`make export-tools` compiles it); the "
                                   "GGUF was written but not checked")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from anchortune.export.served import end_tokens

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with libraries.BUILDING:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    encoded = [_encode(tokenizer, c) for c in conversations]
    n_ctx = max(len(p) + len(a) + max_new_tokens for p, a, _ in encoded) + 8
    llm = llama_cpp.Llama(str(gguf_path), n_ctx=n_ctx, logits_all=True, verbose=False, n_threads=torch.get_num_threads())
    result = Parity(quant, None, "", prompts=len(conversations))
    meta = llm.metadata
    template = meta.get("tokenizer.chat_template")
    vocab = llm._model.vocab
    for token_id, text in end_tokens(tokenizer, model_dir):
        if not llama_cpp.llama_vocab_is_eog(vocab, token_id):
            result.end_token_mismatches.append(text)
    identical, agreeing, nll_t, nll_g, count, same_top, exact_top, positions = 0, 0.0, 0.0, 0.0, 0, 0, 0, 0
    stops = [i for i, _ in end_tokens(tokenizer, model_dir)]
    for conversation, (prompt_ids, answer_ids, prompt_text) in zip(conversations, encoded):
        if template is None or _render(llama_cpp, template, tokenizer, conversation[:-1]) != prompt_text:
            result.template_mismatches += 1
        # as llama.cpp frames a rendered prompt: BOS added where the GGUF says so, special tokens parsed
        if llm.tokenize(prompt_text.encode("utf-8"), add_bos=True, special=True) != prompt_ids:
            result.token_mismatches += 1
        with torch.inference_mode():
            out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=stops, pad_token_id=tokenizer.pad_token_id)
        produced = out[0, len(prompt_ids):].tolist()
        mine = [t for t in produced if t not in stops]
        theirs = _greedy(llm, llama_cpp, prompt_ids, max_new_tokens)
        followed = _top_tokens(llm, prompt_ids, produced)
        exact_top += sum(a == b for a, b in zip(followed, produced))
        same_top += _ties_kept(model, prompt_ids, produced, followed, TIES[quant])
        positions += len(produced)
        same = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
        identical += mine == theirs
        agreeing += same / max(1, len(mine), len(theirs))
        t_sum, g_sum = _answer_nll(model, llm, prompt_ids, answer_ids)
        nll_t, nll_g, count = nll_t + t_sum, nll_g + g_sum, count + len(answer_ids)
        if len(result.samples) < samples:
            result.samples.append({"prompt": conversation[-2]["content"][:200],
                                   "pytorch": tokenizer.decode(mine, skip_special_tokens=True),
                                   "gguf": tokenizer.decode(theirs, skip_special_tokens=True)})
    llm.close()
    n = max(1, len(conversations))
    result.identical_answers, result.agreeing_tokens = identical / n, agreeing / n
    result.same_top_token, result.exact_top_token = same_top / max(1, positions), exact_top / max(1, positions)
    result.loss_pytorch, result.loss_gguf = nll_t / max(1, count), nll_g / max(1, count)
    result.loss_difference = abs(result.loss_gguf - result.loss_pytorch) / max(result.loss_pytorch, 1e-6)
    result.passed, result.reason = _verdict(result)
    return result


def _verdict(r: Parity) -> tuple[bool, str]:
    least, most = BOUNDS[r.quant]
    failures = []
    if r.template_mismatches:
        failures.append(f"the GGUF's chat template frames {r.template_mismatches} of {r.prompts} prompts differently")
    if r.token_mismatches:
        failures.append(f"llama.cpp tokenises {r.token_mismatches} of {r.prompts} prompts differently")
    if r.end_token_mismatches:
        failures.append(f"llama.cpp does not stop at {', '.join(r.end_token_mismatches)}")
    if r.same_top_token < least:
        failures.append(f"llama.cpp's top token is PyTorch's (or within {TIES[r.quant]:g} nats of it) at "
                        f"{r.same_top_token:.1%} of the greedy answers' tokens (bound for {r.quant}: {least:.0%})")
    if not math.isfinite(r.loss_difference) or r.loss_difference > most:
        failures.append(f"answer loss {r.loss_gguf:.4f} against {r.loss_pytorch:.4f} in PyTorch, "
                        f"{r.loss_difference:.1%} apart (bound for {r.quant}: {most:.0%})")
    if failures:
        return False, "; ".join(failures)
    return True, (f"same top token at {r.same_top_token:.1%} of the greedy answers' tokens ({r.exact_top_token:.1%} "
                  f"without the near-tie margin), "
                  f"{r.identical_answers:.0%} identical answers ({r.agreeing_tokens:.0%} of tokens before a "
                  f"difference), answer loss {r.loss_difference:.2%} apart; template and end tokens match")


def _encode(tokenizer, conversation: list[dict]) -> tuple[list[int], list[int], str]:
    """(prompt ids, reference answer ids with its end, prompt text) as training frames the conversation."""
    prompt = tokenizer.apply_chat_template(conversation[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(conversation, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    answer = full_ids[len(prompt_ids):] if full_ids[:len(prompt_ids)] == prompt_ids else \
        tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    return prompt_ids, answer, prompt


def _render(llama_cpp, template: str, tokenizer, messages: list[dict]) -> str:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=template, eos_token=tokenizer.eos_token or "",
                                    bos_token=tokenizer.bos_token or "", add_generation_prompt=True)
    return formatter(messages=messages).prompt


def _greedy(llm, llama_cpp, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    llm.reset()
    produced: list[int] = []
    vocab = llm._model.vocab
    for token in llm.generate(prompt_ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
        if llama_cpp.llama_vocab_is_eog(vocab, token) or len(produced) >= max_new_tokens:
            break
        produced.append(token)
    return produced


def _top_tokens(llm, prompt_ids: list[int], answer: list[int]) -> list[int]:
    """llama.cpp's most likely token at each position of `answer`, given the prompt and the answer before it."""
    import numpy as np

    if not answer:
        return []
    llm.reset()
    llm.eval(prompt_ids + answer)
    return np.asarray(llm.scores[len(prompt_ids) - 1:len(prompt_ids) + len(answer) - 1]).argmax(axis=1).tolist()


def _ties_kept(model, prompt_ids: list[int], answer: list[int], theirs: list[int], margin: float) -> int:
    """How many of llama.cpp's top tokens `theirs` PyTorch ranks best along its own greedy `answer`: its argmax (the
    answer's token) or within `margin` nats of it."""
    import torch

    if not answer:
        return 0
    with torch.inference_mode():
        logits = model(torch.tensor([prompt_ids + answer])).logits[0, len(prompt_ids) - 1:-1].float()
    logp = torch.log_softmax(logits, dim=-1)
    rows = torch.arange(len(answer))
    gap = logp[rows, torch.tensor(answer)] - logp[rows, torch.tensor(theirs)]
    return int((gap <= margin).sum())


def _answer_nll(model, llm, prompt_ids: list[int], answer_ids: list[int]) -> tuple[float, float]:
    """Summed NLL of the answer tokens in PyTorch and in llama.cpp (all logits of one evaluation)."""
    import numpy as np
    import torch

    ids = prompt_ids + answer_ids
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0, len(prompt_ids) - 1:-1].float()
    torch_nll = float(torch.nn.functional.cross_entropy(logits, torch.tensor(answer_ids), reduction="sum"))
    llm.reset()
    llm.eval(ids)
    scores = np.asarray(llm.scores[len(prompt_ids) - 1:len(ids) - 1], dtype=np.float64)
    top = scores.max(axis=1, keepdims=True)
    log_z = (top[:, 0] + np.log(np.exp(scores - top).sum(axis=1)))
    gguf_nll = float((log_z - scores[np.arange(len(answer_ids)), answer_ids]).sum())
    return torch_nll, gguf_nll
