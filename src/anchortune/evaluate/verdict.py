"""The verdict in the team's terms: generated answers to held-out anchor points against their references, beside
the base model's and the strongest trivial baseline's; the loss-based balance diagnosis (evaluate/balance.py) stays
beneath it as evidence.

Per held-out anchor point, the task's own metric of one answer: label tasks, the right label (1 or 0); JSON answers,
the F1 of their (field, value) pairs; free text, ROUGE-L. An answer agrees with its reference when it scores at
least AGREE[kind] (the right label; three quarters of the fields; half the reference's words in order). The tuned
answers are compared with the base model's and with the trivial baseline's answer by answer: the mean difference
and its 95 % interval from a paired bootstrap (BOOTSTRAP resamples, seeded). "Surely better" means the interval
lies above zero.

The verdict, the first rule that applies:
  overfitting, forgetting    the balance guard saw harm in the losses (its reason, then the answers' numbers)
  not judged                 fewer than MIN_ANSWERS held-out answers
  no better than the base    the tuned answers are not surely better than the base model's
  no better than a shortcut  ... not surely better than the trivial baseline (majority label, most common answer,
                             nearest anchor point's answer: evaluate/baselines.py)
  partly tuned               surely better than both, but the agreeing answers close under CLOSE of the gap the
                             baseline leaves to all answers agreeing (legal yes/no, 52 % for always "No": 67 %
                             closes 31 % of it)
  underfitting               the answers pass, but the validation loss was still falling (the guard's reason)
  well tuned                 otherwise
Every sentence is a catalogue message (anchortune.messages), so pages and reports translate it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from anchortune.data.records import AnchorPoint
from anchortune.evaluate import baselines, metrics
from anchortune.messages import say

AGREE = {"label": 1.0, "json": 0.75, "text": 0.5}
METRIC = {"label": "accuracy", "json": "field F1", "text": "ROUGE-L"}
MIN_ANSWERS = 5
CLOSE = 0.5
BOOTSTRAP = 2000
WORST = 3
HARM = ("overfitting", "forgetting")


def score_answers(kind: str, answers: list[str], held: list[AnchorPoint], labels: list[str],
                  fields: list[str]) -> list[float]:
    """The task's metric of each answer against its held-out anchor point (see the module docstring)."""
    if kind == "label":
        gold = [p.label or metrics.extract_label(p.answer, labels) or p.answer for p in held]
        return [float(metrics.extract_label(a, labels) == g) for a, g in zip(answers, gold)]
    if kind == "json":
        return [metrics.json_scores([a], [p.answer], fields)["field_f1"] for a, p in zip(answers, held)]
    return [metrics.rouge_l(a, p.answer) for a, p in zip(answers, held)]


def paired_gain(better: list[float], worse: list[float], seed: int = 0) -> dict:
    """Mean of better - worse answer by answer, with a 95 % paired-bootstrap interval."""
    import numpy as np

    diff = np.asarray(better, dtype=float) - np.asarray(worse, dtype=float)
    if diff.size == 0:
        return {"mean": 0.0, "low": 0.0, "high": 0.0}
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(BOOTSTRAP, diff.size))].mean(axis=1)
    return {"mean": float(diff.mean()), "low": float(np.quantile(means, 0.025)),
            "high": float(np.quantile(means, 0.975))}


@dataclass
class AnswerCheck:
    """The held-out answers measured: the metric for base, tuned and the baseline, agreement, the worst answers."""

    kind: str
    metric: str
    answers: int
    base: float
    tuned: float
    baseline: dict  # {"name", "detail", "score", "words"}
    agree: dict  # {"base", "tuned", "baseline"}: answers agreeing with their reference
    agree_rule: float
    over_base: dict
    over_baseline: dict
    worst: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Verdict:
    """The verdict in plain words: the word, what shows it, what to do next, the answers' numbers in a sentence;
    `loss_verdict` is the balance guard's."""

    verdict: str
    reason: str
    advice: str
    answers: str
    loss_verdict: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def check_answers(kind: str, held: list[AnchorPoint], tuned: list[str], base: list[str], train: list[AnchorPoint],
                  labels: list[str], fields: list[str], embed=None) -> AnswerCheck:
    """Score the tuned and base answers to `held` and the strongest trivial baseline built from `train`."""
    score = lambda answers: score_answers(kind, answers, held, labels, fields)  # noqa: E731
    tuned_scores, base_scores = score(tuned), score(base)
    shortcut = baselines.strongest(kind, held, train, score, embed) or \
        baselines.Baseline("most_common_answer", "", [""] * len(held), [0.0] * len(held))
    rule = AGREE[kind]
    agree = {name: sum(s >= rule for s in scores) for name, scores in
             (("base", base_scores), ("tuned", tuned_scores), ("baseline", shortcut.scores))}
    order = sorted(range(len(held)), key=lambda i: (tuned_scores[i], base_scores[i] - tuned_scores[i]))
    worst = [{"line": held[i].line, "prompt": held[i].prompt, "reference": held[i].answer, "tuned": tuned[i],
              "base": base[i], "baseline": shortcut.answers[i], "score": tuned_scores[i],
              "agrees": tuned_scores[i] >= rule} for i in order[:WORST]]
    mean = lambda s: sum(s) / len(s) if s else 0.0  # noqa: E731
    found = shortcut.to_json()
    found["words"] = baseline_words(found)
    return AnswerCheck(kind, METRIC[kind], len(held), mean(base_scores), mean(tuned_scores), found,
                       agree, rule, paired_gain(tuned_scores, base_scores), paired_gain(tuned_scores, shortcut.scores),
                       worst)


def baseline_words(baseline: dict) -> str:
    """'always answering "No"', 'the most common training answer copied', 'the nearest anchor point's answer copied'."""
    if baseline["name"] == "majority_label":
        return say("baseline_majority", label=baseline["detail"])
    return say("baseline_common") if baseline["name"] == "most_common_answer" else say("baseline_nearest")


def decide(check: AnswerCheck, diagnosis: dict | None) -> Verdict:
    """The verdict from the answers (and the balance guard's diagnosis, a Diagnosis.to_json()): module docstring."""
    loss = (diagnosis or {}).get("verdict")
    n, agree = check.answers, check.agree
    values = dict(agree=agree["tuned"], n=n, metric=check.metric, tuned=f"{check.tuned:.2f}",
                  base=f"{check.base:.2f}", baseline=baseline_words(check.baseline),
                  trivial=f"{check.baseline['score']:.2f}")
    summary = say("answers_summary", **values)
    if loss in HARM:
        return Verdict(loss, diagnosis["reason"], diagnosis["advice"], summary, loss)
    if n < MIN_ANSWERS:
        return Verdict("not judged", say("verdict_few_answers", n=n), say("advice_few_answers"), summary, loss)
    if check.over_base["low"] <= 0:
        return Verdict("no better than the base", say("verdict_no_gain", **values), say("advice_no_gain"), summary,
                       loss)
    if check.over_baseline["low"] <= 0:
        advice = say("advice_shortcut_label", label=check.baseline["detail"]) \
            if check.baseline["name"] == "majority_label" else say("advice_shortcut")
        return Verdict("no better than a shortcut", say("verdict_shortcut", **values), advice, summary, loss)
    room = n - agree["baseline"]
    closed = (agree["tuned"] - agree["baseline"]) / room if room > 0 else 1.0
    if closed < CLOSE:
        return Verdict("partly tuned", say("verdict_partly", wrong=n - agree["tuned"], closed=f"{closed:.0%}",
                                           **values), say("advice_partly"), summary, loss)
    if loss == "underfitting":
        return Verdict("underfitting", diagnosis["reason"], diagnosis["advice"], summary, loss)
    return Verdict("well tuned", summary, say("advice_well"), summary, loss)


def gain_verdict(n: int, low: float, high: float, key: str, values: dict, summary: str,
                 diagnosis: dict | None) -> dict:
    """The end of a verdict whose measure is a gain with a paired-bootstrap interval (preference accuracy, tool
    calls): too few held-out items not judged; an interval not above zero no better than the base (the messages
    verdict_<key>_no_gain and advice_<key>_no_gain, with `values`); the guard's underfitting; else well tuned. The
    guard's overfitting and forgetting are the caller's to say first."""
    loss = (diagnosis or {}).get("verdict")
    if n < MIN_ANSWERS:
        return Verdict("not judged", say("verdict_few_answers", n=n), say("advice_few_answers"), summary,
                       loss).to_json()
    if low <= 0:
        return Verdict("no better than the base", say(f"verdict_{key}_no_gain", low=f"{100 * low:+.0f}",
                                                      high=f"{100 * high:+.0f}", **values),
                       say(f"advice_{key}_no_gain"), summary, loss).to_json()
    if loss == "underfitting":
        return Verdict("underfitting", diagnosis["reason"], diagnosis["advice"], summary, loss).to_json()
    return Verdict("well tuned", summary, say("advice_well"), summary, loss).to_json()
