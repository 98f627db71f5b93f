"""Batched greedy generation with a KV cache: left-padded batches of similar length, answers in input order.

A prompt longer than the model's context less the answer's tokens keeps its end (the question and the turn marker):
the model never gets more positions than it was built for, whatever a file holds.
"""

from __future__ import annotations

from anchortune.engine.loss import autocast


def generate(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int = 128,
             batch_size: int = 8, precision: str = "fp32", tools: list[list[dict] | None] | None = None) -> list[str]:
    """The model's answer to each conversation (which ends with a user or tool turn); `tools`, per conversation, the
    functions the template offers the model."""
    import torch

    if not conversations:
        return []
    offered = tools or [None] * len(conversations)
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True, **({"tools": t} if t else {}))
             for c, t in zip(conversations, offered)]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: list[str] = [""] * len(texts)
    side, cut = tokenizer.padding_side, tokenizer.truncation_side
    tokenizer.padding_side = tokenizer.truncation_side = "left"
    device = next(model.parameters()).device
    stop = _stop_ids(model, tokenizer)
    fit = _prompt_room(model, max_new_tokens)
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                              add_special_tokens=False, **fit).to(device)
            with torch.inference_mode(), autocast(precision, device.type):
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                                     pad_token_id=tokenizer.pad_token_id, eos_token_id=stop)
            new = out[:, batch["input_ids"].shape[1]:]
            for i, row in zip(chunk, new):
                answers[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = side, cut
    return answers


def context_length(model) -> int | None:
    """The positions the model was built for (None where its config does not say)."""
    value = getattr(model.config, "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


def _prompt_room(model, max_new_tokens: int) -> dict:
    """Tokenizer arguments that cut a prompt (from the left) to the context less the answer's tokens."""
    context = context_length(model)
    return {"truncation": True, "max_length": max(1, context - max_new_tokens)} if context else {}


def _stop_ids(model, tokenizer) -> list[int]:
    """Token ids that end an answer: the tokenizer's EOS, the model's and the chat end-of-turn markers."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    for marker in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>"):
        token = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token, int) and token != tokenizer.unk_token_id:
            ids.add(token)
    return sorted(i for i in ids if i is not None)


def stream(model, tokenizer, conversation: list[dict], max_new_tokens: int = 256, temperature: float = 0.0,
           top_p: float = 1.0, precision: str = "fp32"):
    """The answer to one conversation, piece by piece as it is generated (greedy when temperature is 0).

    Generation runs in a helper thread feeding transformers' TextIteratorStreamer; the caller iterates.
    Yields text pieces, then returns (prompt_tokens, completion_tokens) as the generator's value.
    """
    import threading

    import torch
    from transformers import TextIteratorStreamer

    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    device = next(model.parameters()).device
    cut = tokenizer.truncation_side
    tokenizer.truncation_side = "left"
    try:
        batch = tokenizer([text], return_tensors="pt", add_special_tokens=False,
                          **_prompt_room(model, max_new_tokens)).to(device)
    finally:
        tokenizer.truncation_side = cut
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else \
        {"do_sample": False}
    produced: dict = {}
    model.eval()

    def work() -> None:
        try:
            with torch.inference_mode(), autocast(precision, device.type):
                out = model.generate(**batch, max_new_tokens=max_new_tokens, use_cache=True, streamer=streamer,
                                     pad_token_id=tokenizer.pad_token_id, eos_token_id=_stop_ids(model, tokenizer),
                                     **sampling)
            produced["tokens"] = int(out.shape[1] - batch["input_ids"].shape[1])
        except BaseException as exc:  # handed to the consumer below
            produced["error"] = exc
            streamer.end()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    for piece in streamer:
        if piece:
            yield piece
    thread.join()
    if "error" in produced:
        raise produced["error"]
    return int(batch["input_ids"].shape[1]), produced.get("tokens", 0)
