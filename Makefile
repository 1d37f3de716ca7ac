# Everything a fresh machine needs: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned: 2.13.0 is a CPU build (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,quality,scale,documents,frameworks]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/rag-rerank serve

demo: $(STAMP)
	$(BIN)/rag-rerank demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	./scripts/ensure-redis.sh
	./scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .rag-rerank .pytest_cache .mypy_cache .ruff_cache
