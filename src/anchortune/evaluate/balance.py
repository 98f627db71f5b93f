"""Specialisation against generalisation: balance scores, the checkpoint choice, and the diagnosis.

For a candidate (a checkpoint, or the adapter at a scale):
  gain G      = (base valid loss - its valid loss) / (base valid loss - best valid loss of all
                candidates), clipped to [0, 1]: the share of the best task improvement it reaches;
  drift       = its loss on the general probe / the base model's - 1;
  retention R = 1 up to 1 % drift (the probe's own noise: its loss moves by about that between
                evaluations with no trend), then falling linearly to 0 at 10 % drift;
  balance     = 2 G R / (G + R), the harmonic mean, so neither side can buy the other.
The diagnosis applies explicit rules, each reported with the number that triggered it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

DRIFT_ZERO = 0.10  # drift at which retention reaches 0
DRIFT_NOISE = 0.01  # drift the probe shows without forgetting (bench run: -1.3 % to +0.6 % across evaluations)
FORGETTING = 0.05  # drift above which a run is called forgetting
OVERFIT_FINAL = 1.2  # final valid loss above this x best: overfitting
RATIO_WARN, RATIO_SEVERE = 1.2, 2.0  # valid/train loss ratio
UNDERFIT_GAIN = 0.10  # relative improvement of the valid loss below this: underfitting
STILL_FALLING = 0.03  # valid loss falling more than this per evaluation at the end: more to learn


@dataclass
class Candidate:
    """One point on the gain-versus-retention plane."""

    step: int
    valid_loss: float
    probe_loss: float | None
    scale: float = 1.0
    gain: float = 0.0
    drift: float = 0.0
    retention: float = 1.0
    balance: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def score(candidates: list[Candidate], base_valid: float, base_probe: float | None) -> list[Candidate]:
    """Fill gain, drift, retention and balance of every candidate (in place) and return them."""
    best = min(c.valid_loss for c in candidates)
    span = base_valid - best
    for c in candidates:
        c.gain = max(0.0, min(1.0, (base_valid - c.valid_loss) / span)) if span > 0 else 0.0
        c.drift = (c.probe_loss / base_probe - 1) if base_probe and c.probe_loss is not None else 0.0
        c.retention = max(0.0, min(1.0, 1 - max(0.0, c.drift - DRIFT_NOISE) / (DRIFT_ZERO - DRIFT_NOISE)))
        c.balance = 2 * c.gain * c.retention / (c.gain + c.retention) if c.gain + c.retention > 0 else 0.0
    return candidates


def choose(candidates: list[Candidate]) -> tuple[Candidate, list[Candidate]]:
    """The candidate with the best balance and runners-up; ties go to the larger gain, then the earlier
    step, then the larger scale (all checkpoints past the drift bound tie at 0: take the strongest)."""
    ranked = sorted(candidates, key=lambda c: (-round(c.balance, 4), -round(c.gain, 4), c.step, -c.scale))
    return ranked[0], ranked[1:4]


@dataclass
class Diagnosis:
    """The verdict in plain words: what happened, the number that shows it, what to do next."""

    verdict: str
    reason: str
    advice: str
    signals: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def diagnose(train_rows: list[dict], eval_rows: list[dict], base_valid: float, chosen: Candidate,
             full_strength: Candidate | None = None) -> Diagnosis:
    """Well tuned, overfitting, underfitting or forgetting, from the curves and the chosen point.

    `full_strength` is the chosen checkpoint at adapter scale 1: when only a weaker blend stays within
    the drift bound, the run forgot, even though the blend that is handed back does not."""
    valid = [r["valid_loss"] for r in eval_rows]
    signals = []
    best = min(valid) if valid else chosen.valid_loss
    final = valid[-1] if valid else chosen.valid_loss
    last_train = _train_near(train_rows, eval_rows[-1]["step"]) if eval_rows else None
    ratio = final / last_train if last_train else None
    if valid and final > OVERFIT_FINAL * best:
        signals.append(f"final validation loss {final:.3f} is {final / best:.2f}x the best {best:.3f}")
    if ratio and ratio > RATIO_SEVERE:
        signals.append(f"validation/training loss ratio {ratio:.1f} (healthy below {RATIO_WARN})")
    if rising_while_training_falls(train_rows, eval_rows):
        signals.append("validation loss rose at the last evaluations while training loss fell")
    if signals:
        kept = f"; the earlier step {chosen.step} was kept" if chosen.step != eval_rows[-1]["step"] else ""
        return Diagnosis("overfitting", "; ".join(signals) + kept,
                         "add varied anchor points, lower --epochs or --lr, or use --profile conservative", signals)
    if chosen.drift > FORGETTING:
        return Diagnosis("forgetting", f"loss on general prompts rose {chosen.drift:.1%} over the base model "
                                       f"(bound {FORGETTING:.0%})",
                         "turn on --replay 0.1, use --profile conservative, or lower --lr", signals)
    if full_strength is not None and chosen.scale < 1 and full_strength.drift > FORGETTING:
        return Diagnosis("forgetting", f"at full strength the adapter raised loss on general prompts by "
                                       f"{full_strength.drift:.1%} (bound {FORGETTING:.0%}); the blend at scale "
                                       f"{chosen.scale} handed back drifts {chosen.drift:+.1%} and keeps "
                                       f"{chosen.gain:.0%} of the task gain",
                         "turn on --replay 0.1, use --profile conservative, or lower --lr to keep more of the gain",
                         signals)
    gain = (base_valid - best) / base_valid if base_valid > 0 else 0.0
    falling = len(valid) >= 2 and (valid[-2] - valid[-1]) / valid[-2] > STILL_FALLING
    if gain < UNDERFIT_GAIN or (falling and chosen.step == eval_rows[-1]["step"]):
        why = (f"validation loss improved only {gain:.1%} over the base model" if gain < UNDERFIT_GAIN else
               f"validation loss was still falling {(valid[-2] - valid[-1]) / valid[-2]:.1%} per evaluation at the end")
        return Diagnosis("underfitting", why, "train longer (--epochs), raise --lr, or use --profile aggressive",
                         signals)
    chosen_gain = (base_valid - chosen.valid_loss) / base_valid if base_valid > 0 else 0.0
    blend = (f"; at full strength the adapter drifted further, so it is blended in at scale {chosen.scale}"
             if chosen.scale < 1 else "")
    return Diagnosis("well tuned", f"validation loss {base_valid:.3f} -> {chosen.valid_loss:.3f} "
                                   f"({chosen_gain:.0%} better) with general-prompt drift {chosen.drift:+.1%}{blend}",
                     "try it in the playground and on real questions; keep the held-out set for later runs", signals)


def _train_near(train_rows: list[dict], step: int) -> float | None:
    before = [r for r in train_rows if r["step"] <= step]
    return before[-1]["train_loss"] if before else None


def rising_while_training_falls(train_rows: list[dict], eval_rows: list[dict]) -> bool:
    """The last two evaluations each raised the validation loss while the training loss went down."""
    if len(eval_rows) < 3:
        return False
    v = [r["valid_loss"] for r in eval_rows[-3:]]
    t = [_train_near(train_rows, r["step"]) for r in eval_rows[-3:]]
    if None in t:
        return False
    return v[0] < v[1] < v[2] and t[0] > t[2]
