# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := .demo

.PHONY: demo sheet test test-slow test-all clean weights eval-weights bench

# torch first, pinned: pip then takes the local CPU wheel (find-links) instead of
# resolving an unpinned torch to the multi-gigabyte CUDA build from the registry.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The main job: the embedded broker and Redis, the four services as processes,
# simulated lanes, the live console, then a summary (and .demo/summary.json).
demo: $(STAMP)
	$(BIN)/lanewatch demo --lanes 4 --duration 30 --json $(DEMO)/summary.json

# The simulator alone: 16 frames and a contact sheet to judge them by eye.
sheet: $(STAMP)
	$(BIN)/lanewatch synth --out $(DEMO)/frames --count 16 --seed 7 --workers 2 --negatives-ratio 0.125 \
		--sheet $(DEMO)/contact_sheet.png

# pytest exits 5 when a selection holds no test; that is not a failure here.
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not gpu" -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m "slow" -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-all: $(STAMP)
	$(BIN)/python -m pytest -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The shipped detector, end to end on the 2-core CPU machine (about 5 min of
# simulation and 45 min of training); models/weights/README.md is its card.
DATA := data
RUN := runs/nano320z
WEIGHTS := models/weights
weights: $(STAMP)
	$(BIN)/lanewatch synth --out $(DATA)/train --count 3000 --seed 1 --workers 2 --format coco --quiet
	$(BIN)/lanewatch synth --out $(DATA)/val --count 300 --seed 2 --workers 2 --format coco --quiet
	$(BIN)/lanewatch train --data $(DATA)/train --val $(DATA)/val --size nano --epochs 28 --img-size 320 --zoom 1,2 \
		--optimizer adamw --lr 0.0015 --warmup-epochs 1 --seed 0 --out $(RUN)
	$(BIN)/lanewatch export --weights $(RUN)/best.pt --format pt --img-size 416 --out $(WEIGHTS)/aspp_yolo_nano.pt
	$(BIN)/lanewatch export --weights $(WEIGHTS)/aspp_yolo_nano.pt --format onnx --out $(WEIGHTS)/aspp_yolo_nano.onnx

# The acceptance check: a fresh test set (seed 99, never used in training), 10 % negatives.
eval-weights: $(STAMP)
	$(BIN)/lanewatch synth --out $(DATA)/test --count 500 --seed 99 --negatives-ratio 0.1 --workers 2 --format coco --quiet
	$(BIN)/lanewatch eval detector --weights $(WEIGHTS)/aspp_yolo_nano.onnx --data $(DATA)/test --json $(RUN)/eval_test.json

# The README's speed figures (about 20 minutes; run on an otherwise idle machine).
BENCH := runs/bench
bench: $(STAMP)
	$(BIN)/lanewatch bench model --batch 1,2,4,8,16 --json $(BENCH)/model.json
	$(BIN)/lanewatch bench batching --json $(BENCH)/batching.json --plot $(BENCH)/batching.png
	$(BIN)/lanewatch bench pipeline --lanes 4 --scans 400 --lanes-sweep 2,4,8,16 --json $(BENCH)/pipeline.json --plot $(BENCH)/pipeline.png
	$(BIN)/lanewatch synth --out $(DATA)/pareto --count 300 --seed 777 --workers 2 --format coco --quiet
	$(BIN)/lanewatch bench pareto --data $(DATA)/pareto --json $(BENCH)/pareto.json --plot $(BENCH)/pareto.png

clean:
	rm -rf $(DEMO) .pytest_cache
