# Two targets a user needs: `make demo` (the main job on the embedded synthetic corpus)
# and `make test`. Both create .venv and install what is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sier-installed
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
export HF_HUB_DISABLE_PROGRESS_BARS := 1

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q $(TORCH) -e ".[serve,export,vad,test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sier demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) experiments .pytest_cache
