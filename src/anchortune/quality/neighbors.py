"""Nearest neighbours and outlier fences over unit embeddings (chunked, so 10,000 rows fit in memory)."""

from __future__ import annotations

import numpy as np


def centered(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors after removing the mean: static embeddings share a large common direction, and
    cosines between raw vectors crowd near 0.8; centred cosines spread out and separate meaning."""
    if len(vectors) < 2:
        return vectors
    shifted = vectors - vectors.mean(axis=0, keepdims=True)
    return shifted / np.maximum(np.linalg.norm(shifted, axis=1, keepdims=True), 1e-8)


def nearest(vectors: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices) of each row's k most similar other rows, most similar first."""
    n = len(vectors)
    k = max(1, min(k, n - 1))
    sims = np.zeros((n, k), dtype=np.float32)
    idx = np.zeros((n, k), dtype=np.int64)
    for start in range(0, n, chunk):
        block = vectors[start:start + chunk] @ vectors.T
        rows = np.arange(block.shape[0])
        block[rows, rows + start] = -np.inf
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        part_sims = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-part_sims, axis=1)
        idx[start:start + chunk] = np.take_along_axis(part, order, axis=1)
        sims[start:start + chunk] = np.take_along_axis(part_sims, order, axis=1)
    return sims, idx


def upper_fence(values: np.ndarray, factor: float = 1.7) -> float:
    """Q3 + factor * IQR (Cleanlab's outlier rule uses 1.7)."""
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 + factor * (q3 - q1))


def lower_fence(values: np.ndarray, factor: float = 1.5) -> float:
    """Q1 - factor * IQR."""
    q1, q3 = np.percentile(values, [25, 75])
    return float(q1 - factor * (q3 - q1))
