"""Nearest neighbours for the gate: exact search up to neighbors.EXACT_ROWS rows, an HNSW graph above; a row is
never its own neighbour, even beside an exact copy of itself."""

from __future__ import annotations

import numpy as np

from anchortune.quality import neighbors


def unit(rows: int, dims: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact(vectors: np.ndarray, k: int) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1)[:, :k]


def test_exact_search_finds_the_true_neighbours_and_never_the_row_itself():
    vectors = unit(300)
    vectors[7] = vectors[3]  # an exact copy ties with the row itself
    sims, idx = neighbors.nearest(vectors, 5)
    assert idx.shape == (300, 5) and not (idx == np.arange(300)[:, None]).any()
    assert idx[3, 0] == 7 and idx[7, 0] == 3 and np.isclose(sims[3, 0], 1.0)
    assert (np.sort(idx, axis=1) == np.sort(exact(vectors, 5), axis=1)).mean() > 0.99
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # most similar first


def test_the_graph_above_the_exact_limit_finds_almost_all_true_neighbours(monkeypatch):
    monkeypatch.setattr(neighbors, "EXACT_ROWS", 500)
    vectors = unit(3000, seed=1)
    _, idx = neighbors.nearest(vectors, 10)
    truth = exact(vectors, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, truth)])
    assert recall > 0.9 and not (idx == np.arange(3000)[:, None]).any()


def test_two_rows_are_each_others_neighbour():
    _, idx = neighbors.nearest(unit(2), 10)
    assert idx.tolist() == [[1], [0]]
