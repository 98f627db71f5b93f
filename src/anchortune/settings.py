"""Process settings read from the environment, in one place; nothing else reads os.environ.

ANCHORTUNE_HOME      cache for prepared models (default ~/.cache/anchortune)
ANCHORTUNE_SHARED_DATA  third-party datasets for tests and benchmarks (default ../shared/datasets)
ANCHORTUNE_DATA      the studio's uploads, runs and SQLite file (default ANCHORTUNE_HOME/studio)
ANCHORTUNE_DATABASE_URL  another database for the studio (e.g. postgresql+psycopg://...)
ANCHORTUNE_TOKEN     bearer token for the studio's API and pages
ANCHORTUNE_LANG      the command line's language (en or de); else LC_ALL, LC_MESSAGES, LANG (the locale) decide
ANCHORTUNE_LEASE_S   seconds without a worker heartbeat before a running job is taken over
MLFLOW_TRACKING_URI  where `--track mlflow` writes when --tracking-uri is not given (default: DATA/mlflow/)
ANCHORTUNE_NATIVE    'off' (or 0) keeps training on torch's own operations (no compiled kernels)
ANCHORTUNE_LLAMA_CPP a llama.cpp source folder with its GGUF converter (default: the one `make export-tools` unpacks)
ANCHORTUNE_ALLOCATOR 'system' keeps glibc's malloc, a path names another allocator library (default: jemalloc)
CC                   the C compiler that builds the training kernels (default cc)
HF_HUB_OFFLINE       transformers stays offline: a hub id is never tried
HF_HUB_DISABLE_TELEMETRY  '0' lets TRL's trainers report their use to the Hugging Face Hub (default: nothing is sent)
RANK, WORLD_SIZE, TORCHELASTIC_RUN_ID, OMP_NUM_THREADS   what torch.distributed.run tells each worker it starts

The environment is read when a function here is called, never cached: a test that sets a variable sees it.
"""

from __future__ import annotations

import os
from pathlib import Path


def language_wanted() -> tuple[str, str]:
    """(ANCHORTUNE_LANG, the language the C library would write messages in: the first of LC_ALL, LC_MESSAGES, LANG
    that is set, or, as GNU gettext does, the first entry of LANGUAGE where that locale is set and not C/POSIX),
    each '' where unset; cli/console.py makes a language of them."""
    locale = next((os.environ[n] for n in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(n)), "")
    preferred = os.environ.get("LANGUAGE", "").split(":")[0]
    if preferred and locale and not locale.startswith(("C", "POSIX")):
        locale = preferred
    return os.environ.get("ANCHORTUNE_LANG", ""), locale


def home() -> Path:
    """Folder for anchortune's caches (prepared models); created on demand by its users."""
    raw = os.environ.get("ANCHORTUNE_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "anchortune"


def models_dir() -> Path:
    return home() / "models"


def shared_data() -> Path:
    """Where third-party datasets lie for tests and benchmarks (never shipped)."""
    raw = os.environ.get("ANCHORTUNE_SHARED_DATA")
    if raw:
        return Path(raw).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "datasets"


def hub_offline() -> bool:
    """True when the user asked transformers to stay offline."""
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def hub_usage_reports() -> bool:
    """True only when the user asked for the Hugging Face libraries' usage reports (HF_HUB_DISABLE_TELEMETRY=0)."""
    return os.environ.get("HF_HUB_DISABLE_TELEMETRY") in ("0", "false", "False")


def studio_dir() -> Path:
    """The studio's data folder: uploads, runs and the default SQLite database (ANCHORTUNE_DATA)."""
    raw = os.environ.get("ANCHORTUNE_DATA")
    return Path(raw).expanduser() if raw else home() / "studio"


def database_url() -> str | None:
    """ANCHORTUNE_DATABASE_URL: another database for the studio's store (default: SQLite in studio_dir)."""
    return os.environ.get("ANCHORTUNE_DATABASE_URL") or None


def api_token() -> str | None:
    """ANCHORTUNE_TOKEN: the bearer token the studio asks for (required when bound beyond loopback)."""
    return os.environ.get("ANCHORTUNE_TOKEN") or None


def mlflow_tracking_uri() -> str | None:
    """MLFLOW_TRACKING_URI: MLflow's own variable for its tracking server or store (anchortune's default when set)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or None


def lease_seconds() -> float:
    """ANCHORTUNE_LEASE_S: after this long without a heartbeat a running job counts as orphaned (default 60)."""
    return float(os.environ.get("ANCHORTUNE_LEASE_S", "60"))


def native_enabled() -> bool:
    """ANCHORTUNE_NATIVE: 'off', '0' or 'false' keeps the CPU training path on torch's own operations."""
    return os.environ.get("ANCHORTUNE_NATIVE", "auto").strip().lower() not in ("off", "0", "false", "no")


def native_dir() -> Path:
    """Where the training kernels are compiled to (one library per source, compiler and CPU)."""
    return home() / "native"


def c_compiler() -> str:
    """CC: the C compiler for the training kernels (default cc)."""
    return os.environ.get("CC") or "cc"


def llama_cpp_dir() -> Path:
    """ANCHORTUNE_LLAMA_CPP: a llama.cpp source folder holding convert_hf_to_gguf.py; default the one
    `make export-tools` unpacks into this environment (share/anchortune/llama.cpp)."""
    import sys

    raw = os.environ.get("ANCHORTUNE_LLAMA_CPP")
    return Path(raw).expanduser() if raw else Path(sys.prefix) / "share" / "anchortune" / "llama.cpp"


def allocator_choice() -> str:
    """ANCHORTUNE_ALLOCATOR: 'auto' (jemalloc where installed), 'jemalloc', 'system' or a library's path."""
    return os.environ.get("ANCHORTUNE_ALLOCATOR", "auto").strip() or "auto"


ALLOCATOR_SET = "_ANCHORTUNE_ALLOCATOR_SET"  # set for a process whose allocator was chosen (never re-executed again)


def allocator_chosen() -> bool:
    """True in a process whose allocator was chosen at its start (allocator.py: re-executed once, never again)."""
    return bool(os.environ.get(ALLOCATOR_SET))


def mark_allocator_chosen() -> None:
    """Say, for this process and the ones it starts, that the allocator is chosen (at start-up only)."""
    os.environ[ALLOCATOR_SET] = "1"


def environment(**extra: str) -> dict[str, str]:
    """This process's environment with `extra` set, for a child process it starts."""
    return {**os.environ, **extra}


def rank() -> int:
    """RANK: this process's global rank in a distributed run (0 outside one)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """WORLD_SIZE: processes training together (1 outside a distributed run)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_worker() -> bool:
    """True in a worker process that torch.distributed.run started (TORCHELASTIC_RUN_ID, or a world of several)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or world_size() > 1


def cpu_threads() -> int | None:
    """OMP_NUM_THREADS: the share of the cores a launcher gave this process, or None."""
    raw = os.environ.get("OMP_NUM_THREADS")
    return int(raw) if raw and raw.isdigit() else None
