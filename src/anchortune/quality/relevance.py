"""Off-task examples: far from the data's own centre, or from the task description when one is given.

Score: the robust z-scores ((x - median) / IQR) of two distances added, the row's prompt+answer
embedding to the data's centre and its answer embedding to the answers' centre (for JSON tasks its
document's to the documents' centre: field values differ row by row by nature, and on SROIE a rare chain's
unusual fields had pushed real receipts over the fence); flagged above Tukey's far-out fence Q3 + 3 IQR of
that score. Injected off-task receipts score 12.5 and more against that fence's ~7.3 with either side;
with the documents' side no real receipt of the two injectors' runs passes 7.5 (with the answers' 8.1). Measured with 3 % injected rows from other domains
(bench/quality_gate.py): on Bitext recall 0.99 with 0.2 % of clean rows flagged, on SROIE receipts
recall 1.0 with 0.5 %. Cleanlab's Q3 + 1.7 IQR on the combined distance alone flagged 0.4-1.2 % of
clean rows and missed 10 %; k-nearest-neighbour distances flagged 1-2 % of clean rows (natural rare
phrasings). With a description, rows whose similarity to it falls below the data's lower fence are
flagged too.
"""

from __future__ import annotations

import numpy as np

from anchortune.data.records import AnchorPoint
from anchortune.quality.findings import Finding
from anchortune.quality.neighbors import lower_fence, upper_fence


def _to_centre(vectors: np.ndarray) -> np.ndarray:
    centre = vectors.mean(axis=0)
    return vectors @ (centre / max(float(np.linalg.norm(centre)), 1e-8))


def _robust_z(values: np.ndarray) -> np.ndarray:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return (values - median) / max(float(q3 - q1), 1e-8)


def matches_description(combined: np.ndarray, description: np.ndarray, seed: int = 0) -> bool:
    """Whether the rows' median similarity to the description clears the lower fence (Q1 - 1.5 IQR) of
    the similarities between random pairs of rows: the description is as close as a typical row is."""
    order = np.random.default_rng(seed).permutation(len(combined))
    between_rows = np.einsum("ij,ij->i", combined, combined[order])
    return float(np.median(combined @ description)) >= lower_fence(between_rows)


def off_task(points: list[AnchorPoint], combined: np.ndarray, answers: np.ndarray,
             description: np.ndarray | None = None) -> tuple[list[Finding], np.ndarray]:
    """Findings and each row's relevance (cosine to the data's centre, or to the description); `answers` is the
    row's own side: its answer's vector, or for JSON tasks its document's."""
    if len(points) < 8:
        return [], np.ones(len(points))
    similarity = _to_centre(combined)
    distance = _robust_z(1 - similarity) + _robust_z(1 - _to_centre(answers))
    fence = upper_fence(distance, 3.0)
    reasons = {int(i): "far from the rest of the anchor points" for i in np.nonzero(distance > fence)[0]}
    if description is not None:
        to_task = combined @ description
        low = lower_fence(to_task, 1.7)
        for i in np.nonzero(to_task < low)[0]:
            reasons.setdefault(int(i), "unrelated to the task description")
        similarity = to_task
    findings = [Finding(points[i].line, "off_task", "warning", f"off task: {reasons[i]} "
                        f"(score {distance[i]:.1f}, fence {fence:.1f})") for i in sorted(reasons)]
    return findings, similarity
