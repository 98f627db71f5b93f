"""The quality report: per-example findings, four scores, a verdict with reasons, and advice.

Scores (0-100), each documented where computed:
  relevance  share of rows not off task (20 % off task -> 0); at most 30 when the rows are further
             from the task description than from one another
  diversity  effective distinct examples (Vendi) against what the size allows, less duplicates
  balance    evenness of labels / intents / clusters, less answers reused as templates
  clarity    share of rows without unclear, contradictory, invalid or wrong-language answers
Verdict: poor when the set is one-sided, any score is under 40, or over 10 % of rows carry an error;
fair when a score is under 70, over 2 % of rows carry an error or the set is too small; else good.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from anchortune.data.presets import Preset
from anchortune.data.records import AnchorPoint
from anchortune.quality.balance import normalised_entropy, shares
from anchortune.quality import detectors
from anchortune.quality.findings import CODES, Finding
from anchortune.messages import fill, say

UNCLEAR_CODES = detectors.codes(score="clarity")


@dataclass
class QualityReport:
    """Everything the gate found; `to_json` is what --json writes and the run folder keeps."""

    examples: int
    task: str
    findings: list[Finding]
    scores: dict[str, int]
    verdict: str
    reasons: list[str]
    advice: list[str]
    size: dict
    groups: dict
    group_kind: str
    effective_examples: float
    token_lengths: dict
    counts: dict[str, int] = field(default_factory=dict)

    def flagged_lines(self, severity: str = "warning") -> set[int]:
        return {f.line for f in self.findings if f.at_least(severity)}

    def to_json(self) -> dict:
        return {"examples": self.examples, "task": self.task, "verdict": self.verdict, "reasons": self.reasons,
                "scores": self.scores, "advice": self.advice, "size": self.size, "group_kind": self.group_kind,
                "groups": self.groups, "effective_examples": self.effective_examples,
                "token_lengths": self.token_lengths, "counts": self.counts,
                "findings": [f.to_json() for f in sorted(self.findings, key=lambda f: (f.line, f.code))]}

    @classmethod
    def from_json(cls, data: dict) -> "QualityReport":
        """The report `to_json` wrote (a job's stored gate verdict handed to its training)."""
        findings = [Finding(**{**f, "related": tuple(f.get("related", ()))}) for f in data["findings"]]
        fields = ("examples", "task", "scores", "verdict", "reasons", "advice", "size", "groups", "group_kind",
                  "effective_examples", "token_lengths")
        return cls(findings=findings, counts=data.get("counts", {}), **{k: data[k] for k in fields})

    def summary(self) -> str:
        scores = ", ".join(f"{k} {v}" for k, v in self.scores.items())
        return f"{self.verdict} ({scores}); " + "; ".join(self.reasons)


def _rows_with(findings: list[Finding], codes: tuple[str, ...], severity: str = "warning") -> set[int]:
    return {f.line for f in findings if f.code in codes and f.at_least(severity)}


def _clip(value: float) -> int:
    return int(round(max(0.0, min(100.0, value))))


def one_sided(group_shares: dict[str, float], template_share: float) -> str | None:
    """Why the set is one-sided, or None. A share above max(0.5, min(0.8, 2/K)) of K groups is."""
    if template_share >= 0.3:
        return f"one-sided: {template_share:.0%} of the answers repeat a template"
    if len(group_shares) >= 2:
        top, share = next(iter(group_shares.items()))
        limit = max(0.5, min(0.8, 2 / len(group_shares)))
        if share >= limit:
            return f"one-sided: {share:.0%} of the examples are '{top}'"
    return None


def build_report(points: list[AnchorPoint], preset: Preset, findings: list[Finding], groups: list[str],
                 group_kind: str, vendi: float, token_lengths: list[int], max_length: int,
                 relevance: np.ndarray, on_topic: bool = True) -> QualityReport:
    n = max(1, len(points))
    counts = Counter(f.code for f in findings if f.at_least("warning"))
    group_shares = shares(groups) if groups else {}
    template_share = len(_rows_with(findings, detectors.codes(score="balance"))) / n
    duplicate_share = len(_rows_with(findings, detectors.codes(score="diversity"))) / n
    attainable = max(1.0, min(len(points) / 4, 40.0))
    scores = {
        "relevance": _clip(100 * (1 - 5 * len(_rows_with(findings, detectors.codes(score="relevance"))) / n)),
        "diversity": _clip(100 * min(1.0, vendi / attainable) * (1 - 2 * duplicate_share)),
        "balance": _clip(100 * (0.4 + 0.6 * normalised_entropy(group_shares) if len(group_shares) > 1 else 0.4)
                         * (1 - template_share)),
        "clarity": _clip(100 * (1 - 4 * len(_rows_with(findings, UNCLEAR_CODES)) / n)),
    }
    if not on_topic:
        scores["relevance"] = min(scores["relevance"], 30)
    error_share = len({f.line for f in findings if f.severity == "error"}) / n
    sided = one_sided(group_shares, template_share)
    min_per_group = 5 if group_kind == "label" and len(group_shares) > 1 else 0
    small_groups = [g for g, s in group_shares.items() if s * len(points) < min_per_group]
    size = {"examples": len(points), "needed": preset.quality.min_examples,
            "sufficient": len(points) >= preset.quality.min_examples and not small_groups,
            "small_groups": small_groups[:20]}
    reasons = []
    if not on_topic:
        reasons.append("the anchor points do not match the task description: they are closer to one another "
                       "than to it")
    if sided:
        reasons.append(sided)
    reasons += [f"{k} score {v} is low" for k, v in scores.items() if v < 70]
    if error_share > 0.02:
        reasons.append(f"{error_share:.0%} of the rows carry an error")
    if not size["sufficient"]:
        reasons.append(f"{len(points)} examples; the {preset.name} task needs at least {preset.quality.min_examples}"
                       + (f" and 5 per label ({len(small_groups)} labels have fewer)" if small_groups else ""))
    if sided or min(scores.values()) < 40 or error_share > 0.10:
        verdict = "poor"
    elif min(scores.values()) < 70 or error_share > 0.02 or not size["sufficient"]:
        verdict = "fair"
    else:
        verdict = "good"
    if not reasons:
        reasons.append("relevant, diverse, balanced and clear")
    lengths = _percentiles(token_lengths, max_length)
    return QualityReport(examples=len(points), task=preset.name, findings=findings, scores=scores, verdict=verdict,
                         reasons=reasons, advice=advice(findings, group_shares, group_kind, template_share, lengths,
                                                        size, len(points)),
                         size=size, groups={g: round(s, 4) for g, s in group_shares.items()}, group_kind=group_kind,
                         effective_examples=round(vendi, 1), token_lengths=lengths, counts=dict(counts))


def _percentiles(lengths: list[int], max_length: int) -> dict:
    if not lengths:
        return {}
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return {"p50": int(p50), "p90": int(p90), "p99": int(p99), "max": int(max(lengths)), "limit": max_length,
            "over_limit": int(sum(l > max_length for l in lengths))}


def _lines(findings: list[Finding], limit: int = 6) -> str:
    lines = sorted({f.line for f in findings})
    return ", ".join(map(str, lines[:limit])) + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def advice(findings: list[Finding], group_shares: dict[str, float], group_kind: str, template_share: float,
           lengths: dict, size: dict, n: int) -> list[str]:
    """3 to 7 concrete steps, most important first, naming lines, labels or intents."""
    by_code: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.at_least("warning"):
            by_code[f.code].append(f)
    tips: list[str] = []
    if group_shares:
        top, share = next(iter(group_shares.items()))
        rare = [g for g, s in group_shares.items() if s < 0.1 / len(group_shares)]
        if share >= max(0.5, min(0.8, 2 / max(2, len(group_shares)))):
            others = [g for g in group_shares if g != top][:3]
            tips.append(f"{share:.0%} of the examples are {group_kind} '{top}': add examples for "
                        f"{', '.join(others) or 'other cases'} or thin out '{top}'")
        if rare:
            tips.append(say("q_advice_rare", n=len(rare), kind=group_kind, share=f"{0.1 / len(group_shares):.1%}",
                            names=", ".join(rare[:4]) + (", ..." if len(rare) > 4 else "")))
    if by_code["template_answer"]:
        groups = {f.message for f in by_code["template_answer"]}
        tips.append(say("q_advice_templates", n=len(by_code["template_answer"]), k=len(groups),
                        lines=_lines(by_code["template_answer"])))
    texts = {d.code: d.advice for d in detectors.DETECTORS if d.advice}  # quality/detectors.py
    for d in detectors.DETECTORS:  # a kind of data's detectors share one advice line (tool calls, pairs)
        if d.advice_in:
            by_code[d.advice_in] += by_code[d.code]
    ranked = sorted(texts, key=lambda c: -len(by_code[c]))
    for code in ranked:
        if by_code[code]:
            tips.append(fill(texts[code], {"n": len({f.line for f in by_code[code]}), "lines": _lines(by_code[code]),
                                           "limit": lengths.get("limit", "")}))
    if not size["sufficient"]:
        tips.append(f"collect more anchor points: {n} now, at least {size['needed']} recommended"
                    + (f"; these {group_kind}s have under 5: {', '.join(size['small_groups'][:4])}"
                       if size["small_groups"] else ""))
    fillers = [
        "hold out a few real user questions the anchor points do not contain, to judge the tuned model honestly",
        "vary phrasing, length and tone of the prompts the way real users write",
        f"review a random sample of {min(20, n)} answers by hand: the model will copy their style and their errors",
    ]
    for filler in fillers:
        if len(tips) >= 3:
            break
        tips.append(filler)
    return [t[0].upper() + t[1:] for t in tips[:7]]


def describe(code: str) -> str:
    return CODES.get(code, code)
