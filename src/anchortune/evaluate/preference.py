"""How well a model prefers what people preferred, on held-out pairs, base against tuned.

For each pair, the model's summed log-likelihood of the chosen and of the rejected answer given the prompt:
  preference accuracy  the share of pairs where the chosen answer is the more likely (a model's own preference,
                       comparable between base and tuned);
  reward accuracy      the share of pairs where tuning raised the chosen answer's likelihood more than the rejected
                       one's: DPO's implicit reward beta * log(pi / pi_ref) ranks the chosen answer first (the base
                       model itself is the reference, so it scores none);
  reward margin        the mean of beta * [(tuned - base) on chosen - (tuned - base) on rejected]: how far, in reward,
                       tuning moved the pairs apart (0 for the base model);
with a paired bootstrap interval on the accuracy gain, and the verdict those numbers support (`decide`). Token ids come
from data/pair_tokens.py; knows nothing about training.
"""

from __future__ import annotations

import numpy as np

from anchortune.messages import say

BOOTSTRAP = 2000


def log_likelihoods(model, rendered: list, pad_id: int, precision: str = "fp32") -> list[tuple[float, float]]:
    """(log p(chosen | prompt), log p(rejected | prompt)) of each rendered pair, summed over the answer's tokens."""
    from anchortune.evaluate.general import sequence_nlls

    examples = [row.scored(side) for row in rendered for side in ("chosen", "rejected")]
    nll = sequence_nlls(model, examples, pad_id, precision)
    return [(-nll[i], -nll[i + 1]) for i in range(0, len(nll), 2)]


def compare(base: list[tuple[float, float]], tuned: list[tuple[float, float]], beta: float, seed: int = 0) -> dict:
    """The held-out preference measures of base and tuned model (see the module docstring)."""
    b = np.array(base, dtype=float).reshape(-1, 2)
    t = np.array(tuned, dtype=float).reshape(-1, 2)
    n = len(b)
    if n == 0:
        return {"pairs": 0}
    right_base, right_tuned = b[:, 0] > b[:, 1], t[:, 0] > t[:, 1]
    moved = (t[:, 0] - b[:, 0]) - (t[:, 1] - b[:, 1])
    gain = right_tuned.astype(float) - right_base.astype(float)
    draws = np.random.default_rng(seed).integers(0, n, size=(BOOTSTRAP, n))
    spread = gain[draws].mean(axis=1)
    return {"pairs": n, "beta": beta,
            "base": {"preference_accuracy": float(right_base.mean())},
            "tuned": {"preference_accuracy": float(right_tuned.mean()), "reward_accuracy": float((moved > 0).mean()),
                      "reward_margin": float(beta * moved.mean())},
            "accuracy_gain": float(gain.mean()),
            "accuracy_gain_interval": [float(np.quantile(spread, 0.025)), float(np.quantile(spread, 0.975))],
            "wrong_to_right": int((~right_base & right_tuned).sum()),
            "right_to_wrong": int((right_base & ~right_tuned).sum())}


def decide(comparison: dict, diagnosis: dict | None) -> dict:
    """The verdict of a preference run, in the supervised run's words (evaluate/verdict.py): the balance guard's
    overfitting or forgetting first, then the held-out preference accuracy (surely higher than the base model's:
    its paired-bootstrap interval above zero), then the guard's underfitting."""
    from anchortune.evaluate.verdict import HARM, Verdict, gain_verdict

    loss = (diagnosis or {}).get("verdict")
    n = comparison.get("pairs", 0)
    if not n:
        return Verdict("not judged", say("verdict_few_answers", n=0), say("advice_few_answers"), "", loss).to_json()
    low, high = comparison["accuracy_gain_interval"]
    values = dict(n=n, tuned=f"{comparison['tuned']['preference_accuracy']:.0%}",
                  base=f"{comparison['base']['preference_accuracy']:.0%}",
                  reward=f"{comparison['tuned']['reward_accuracy']:.0%}",
                  margin=f"{comparison['tuned']['reward_margin']:.3f}")
    summary = say("pref_summary", **values)
    if loss in HARM:
        return Verdict(loss, diagnosis["reason"], diagnosis["advice"], summary, loss).to_json()
    return gain_verdict(n, low, high, "pref", values, summary, diagnosis)
