"""How a reinforcement run did, on held-out prompts, base against tuned: the graders' mean reward (with a paired
bootstrap interval on its gain), the task preset's own metric on the same answers, and the signs of reward hacking:
  collapse      the tuned answers fall to one form: its most common answer is COLLAPSE_SHARE of all of them or more
                where the base model's was not;
  length        the tuned answers are LENGTH_FACTOR times as long as the base model's, in words, or longer;
  metric falls  the reward rose while the task metric fell by METRIC_DROP or more: the grader is being gamed.
`decide` turns them into the supervised run's verdict words. Knows nothing about training.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from anchortune.messages import say

BOOTSTRAP = 2000
COLLAPSE_SHARE = 0.5
LENGTH_FACTOR = 1.5
METRIC_DROP = 0.02


def task_metric(kind: str, answers: list[str], references: list[str], labels: list[str],
                fields: list[str]) -> float | None:
    """The preset's metric of answers against references: field F1 (json), accuracy (label) or mean ROUGE-L."""
    from anchortune.evaluate import metrics

    if not answers:
        return None
    if kind == "json":
        return metrics.json_scores(answers, references, fields)["field_f1"]
    if kind == "label":
        found = [metrics.extract_label(a, labels) for a in answers]
        return metrics.label_scores(found, [metrics.extract_label(r, labels) or r for r in references])["accuracy"]
    return float(np.mean([metrics.rouge_l(a, r) for a, r in zip(answers, references)]))


def compare(base: dict, tuned: dict, seed: int = 0) -> dict:
    """Base and tuned model's held-out measures: each {"rewards", "answers", "metric"} over the same prompts."""
    b, t = np.array(base["rewards"], dtype=float), np.array(tuned["rewards"], dtype=float)
    n = len(b)
    if n == 0:
        return {"prompts": 0}
    gain = t - b
    spread = gain[np.random.default_rng(seed).integers(0, n, size=(BOOTSTRAP, n))].mean(axis=1)
    sides = {name: {"reward": float(r.mean()), "metric": side["metric"], "words": _words(side["answers"]),
                    "top_share": _top_share(side["answers"])} for name, r, side in (("base", b, base), ("tuned", t, tuned))}
    return {"prompts": n, **sides, "reward_gain": float(gain.mean()),
            "reward_gain_interval": [float(np.quantile(spread, 0.025)), float(np.quantile(spread, 0.975))],
            "signs": hacking_signs(sides["base"], sides["tuned"])}


def hacking_signs(base: dict, tuned: dict) -> list[dict]:
    """The reward-hacking signs (see the module docstring): {"sign": collapse | length | metric, "text": in words
    with its numbers}."""
    signs = []
    if tuned["top_share"] >= COLLAPSE_SHARE > base["top_share"]:
        signs.append({"sign": "collapse", "text": say("rl_sign_collapse", tuned=f"{tuned['top_share']:.0%}",
                                                      base=f"{base['top_share']:.0%}")})
    if base["words"] and tuned["words"] >= LENGTH_FACTOR * base["words"]:
        signs.append({"sign": "length", "text": say("rl_sign_length", tuned=f"{tuned['words']:.0f}",
                                                    base=f"{base['words']:.0f}")})
    if tuned["reward"] > base["reward"] and base["metric"] is not None and tuned["metric"] is not None \
            and tuned["metric"] <= base["metric"] - METRIC_DROP:
        signs.append({"sign": "metric", "text": say("rl_sign_metric", tuned=f"{tuned['metric']:.3f}",
                                                    base=f"{base['metric']:.3f}")})
    return signs


def decide(comparison: dict, forgot: str | None) -> dict:
    """The verdict of a reinforcement run in the supervised run's words (evaluate/verdict.py): forgetting first
    (the kept checkpoint past a retention bound), then the held-out reward (surely above the base model's: its
    paired-bootstrap interval above zero), then the task metric falling while the reward rose (no better than the
    base), then answers collapsing or growing (partly tuned)."""
    from anchortune.evaluate.verdict import MIN_ANSWERS, Verdict

    n = comparison.get("prompts", 0)
    if not n:
        return Verdict("not judged", say("verdict_few_answers", n=0), say("advice_few_answers"), "", None).to_json()
    base, tuned = comparison["base"], comparison["tuned"]
    low, high = comparison["reward_gain_interval"]
    metric = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    values = dict(n=n, tuned=f"{tuned['reward']:.3f}", base=f"{base['reward']:.3f}",
                  metric_tuned=metric(tuned["metric"]), metric_base=metric(base["metric"]))
    summary = say("rl_summary", **values)
    signs = comparison["signs"]
    if forgot:
        return Verdict("forgetting", say("verdict_rl_forgetting", lost=forgot), say("advice_rl_forgetting"),
                       summary, None).to_json()
    if n < MIN_ANSWERS:
        return Verdict("not judged", say("verdict_few_answers", n=n), say("advice_few_answers"), summary,
                       None).to_json()
    if low <= 0:
        return Verdict("no better than the base", say("verdict_rl_no_gain", low=f"{low:+.3f}", high=f"{high:+.3f}",
                                                      **values), say("advice_rl_no_gain"), summary, None).to_json()
    words = "; ".join(s["text"] for s in signs)
    if any(s["sign"] == "metric" for s in signs):
        return Verdict("no better than the base", words, say("advice_rl_hacking"), summary, None).to_json()
    if signs:
        return Verdict("partly tuned", words, say("advice_rl_hacking"), summary, None).to_json()
    return Verdict("well tuned", summary, say("advice_well"), summary, None).to_json()


def _words(answers: list[str]) -> float:
    return float(np.mean([len(a.split()) for a in answers])) if answers else 0.0


def _top_share(answers: list[str]) -> float:
    counts = Counter(" ".join(a.split()).lower() for a in answers)
    return counts.most_common(1)[0][1] / len(answers) if answers else 0.0
