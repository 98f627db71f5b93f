"""The held-out answers a run ends with: the tuned and the base model answer the held-out prompts (ANSWER_ROWS of
them, up to NEW_TOKENS each, fewer where every reference is shorter), the answers are judged against their references and a trivial baseline
(evaluate/verdict.py), and how long that takes is estimated beforehand from the evaluations' pace, so the run's
time left counts it. Conversations that offer tools are answered with their tools offered, and a tool-calling run's
calls are measured and judged as calls (evaluate/tool_calls.py). Knows nothing about the run folder or the store.
"""

from __future__ import annotations

from anchortune.data.presets import Preset
from anchortune.data.records import AnchorPoint
from anchortune.train.events import Event, EventSink, ignore

ANSWER_ROWS = 64  # held-out prompts the verdict's answers are generated for (the first ones of the split)
NEW_TOKENS = {"label": 16, "json": 160, "text": 160}
ANSWER_BATCH = 16  # decoding a 135M model on 2 cores costs about as much a step for 16 rows as for 8 (the step's
# fixed cost dominates): 16 held-out prompts, 160 new tokens, in 2 batches of 8 27.5 s, in one of 16 19.3 s
DECODE_STEP_S = 0.1  # the least one step of batched generation takes on a CPU: a 135M model on 2 cores, 160 steps
# of 16 rows 19.3 s (0.12 s a step), of 8 rows 0.086 s; the step's fixed cost (every layer's small products and
# the cache's bookkeeping) dominates, so the evaluation's pace per token (the term beside it) says too little


def after_training(rows: int, kind: str, evaluations: int, valid_tokens: int):
    """A function: one evaluation's mean seconds -> the seconds a run needs after its last step (the final
    evaluation: the adapter scales and the average measured as a checkpoint is; the held-out answers of base and
    tuned model: batches x new tokens x a decoding step, from the evaluation's cost per token), or with
    `answers_only` the answers alone. Rough, as the preflight's estimate is."""
    import math

    def estimate(mean_eval_s: float, answers_only: bool = False) -> float:
        step = max(DECODE_STEP_S, ANSWER_BATCH * mean_eval_s / max(1, valid_tokens))
        answers = 2 * math.ceil(rows / ANSWER_BATCH) * NEW_TOKENS[kind] * step
        return answers if answers_only else evaluations * mean_eval_s + answers

    return estimate


def new_tokens(tokenizer, kind: str, points: list[AnchorPoint]) -> int:
    """Tokens an answer may take: NEW_TOKENS for the task's kind, or 1.5x the longest reference answer (and 16
    more) where that is less: an answer far longer than every reference agrees with none of them anyway."""
    longest = max((len(tokenizer(p.answer, add_special_tokens=False)["input_ids"]) for p in points), default=0)
    return min(NEW_TOKENS[kind], int(1.5 * longest) + 16)


def answers(model, tokenizer, source, preset: Preset, points: list[AnchorPoint], precision: str,
            step: int = 0, on_event: EventSink = ignore) -> dict[str, list[str]]:
    """The tuned and the base model's answers to the held-out prompts (the adapter switched off for base; a full
    fine-tune loads the base model again), in batches, each reported as progress of the 'answers' stage."""
    import time

    from anchortune.evaluate.generation import generate
    from anchortune.models.loading import load_model

    conversations = [preset.to_messages(p)[:-1] for p in points]
    limit = new_tokens(tokenizer, preset.output.format, points)
    started, total = time.perf_counter(), 2 * len(conversations)
    out: dict[str, list[str]] = {"tuned": [], "base": []}

    def answer(target, name: str) -> None:
        for start in range(0, len(conversations), ANSWER_BATCH):
            out[name] += generate(target, tokenizer, conversations[start:start + ANSWER_BATCH], limit,
                                  batch_size=ANSWER_BATCH, precision=precision,
                                  tools=[list(p.tools) or None for p in points[start:start + ANSWER_BATCH]])
            done = len(out["tuned"]) + len(out["base"])
            spent = time.perf_counter() - started
            on_event(Event("progress", step, {"stage": "answers", "fraction": done / total,
                                              "eta_s": spent / done * (total - done)}))

    answer(model, "tuned")
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            answer(model, "base")
    else:
        answer(load_model(source), "base")
    return out



def tool_call_check(model, tokenizer, source, preset: Preset, held: list[AnchorPoint], answers: dict,
                    precision: str, diagnosis: dict | None) -> tuple[dict, dict]:
    """A tool-calling run's held-out calls, base against tuned (evaluate/tool_calls.py: the answers above, and the
    general questions asked with the tools offered), and the verdict they support."""
    from anchortune.evaluate import tool_calls
    from anchortune.models.loading import load_model

    final = all(tool_calls.scored_turn(p) == max(i for i, m in enumerate(p.messages) if m["role"] == "assistant")
                for p in held)  # the answers above were asked where the calls are: reused

    def ask(target) -> tuple[list[str], list[str]]:
        said = answers_to(target) if not final else None
        return said, tool_calls.general_answers(target, tokenizer, held, preset.frame, precision)

    def answers_to(target) -> list[str]:
        return tool_calls.held_out_answers(target, tokenizer, held, preset.frame, precision)

    found = {"tuned": ask(model)}
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            found["base"] = ask(model)
    else:
        found["base"] = ask(load_model(source))
    asked = {name: said if said is not None else answers[name] for name, (said, _) in found.items()}
    comparison = tool_calls.compare(held, asked, {name: general for name, (_, general) in found.items()})
    return comparison, tool_calls.decide(comparison, diagnosis)


def judge(preset: Preset, held: list[AnchorPoint], answers: dict, train: list[AnchorPoint],
                  diagnosis: dict | None):
    """The answer check and the verdict (evaluate/verdict.py); nearest anchor points by the gate's embedding."""
    from anchortune.evaluate import verdict
    from anchortune.quality.embeddings import load_embedder

    check = verdict.check_answers(preset.output.format, held, answers["tuned"], answers["base"], train,
                                  preset.output.labels, preset.output.fields, load_embedder().embed)
    return check, verdict.decide(check, diagnosis)
