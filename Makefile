# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := .demo

.PHONY: demo test test-slow test-all sheet clean

# torch first, pinned: pip then takes the local CPU wheel (find-links) instead of
# resolving an unpinned torch to the multi-gigabyte CUDA build from the registry.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lanewatch synth --out $(DEMO)/frames --count 16 --seed 7 --workers 2 --negatives-ratio 0.125 \
		--sheet $(DEMO)/contact_sheet.png
	@echo "contact sheet: $(DEMO)/contact_sheet.png"

# pytest exits 5 when a selection holds no test; that is not a failure here.
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not gpu" -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m "slow" -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-all: $(STAMP)
	$(BIN)/python -m pytest -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

clean:
	rm -rf $(DEMO) .pytest_cache
