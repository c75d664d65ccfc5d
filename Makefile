# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := .demo

.PHONY: screenshots browser demo sheet sheets lint test test-slow test-all clean weights weights-nano eval-weights eval-finetune bench realism ablation

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
	$(BIN)/lanewatch demo --lanes 6 --duration 40 --json $(DEMO)/summary.json

# The simulator alone: 16 frames and a contact sheet to judge them by eye.
sheet: $(STAMP)
	$(BIN)/lanewatch synth --out $(DEMO)/frames --count 16 --seed 7 --workers 2 --negatives-ratio 0.125 \
		--sheet $(DEMO)/contact_sheet.png

# One contact sheet per scanner profile, shown in the README (the same four frames on every screen).
PROFILES := sixray vivid greyscale teal
sheets: $(STAMP)
	for p in $(PROFILES); do \
		$(BIN)/lanewatch synth --out $(DEMO)/sheets/$$p --count 4 --seed 8 --scanner $$p --negatives-ratio 0 --quiet > /dev/null && \
		$(BIN)/lanewatch sheet $(DEMO)/sheets/$$p --out pipeline/xray/scanners/$$p.jpg --count 4 --columns 4 --tile 300 || exit 1; \
	done

# How real the simulator looks: 500 fresh frames of the default profile against the real dev scans (README figures).
REAL := ../shared/realxray-dev
realism: $(STAMP)
	$(BIN)/lanewatch synth --out $(DATA)/realism --count 500 --seed 12345 --workers 2 --format coco --quiet
	$(BIN)/lanewatch eval realism --sim $(DATA)/realism --real $(REAL) --json runs/realism.json

# Lint (ruff, configured in pyproject.toml) before the tests: a second or two.
lint: $(STAMP)
	$(BIN)/ruff check .

# pytest exits 5 when a selection holds no test; that is not a failure here.
test: $(STAMP) lint browser
	$(BIN)/python -m pytest -m "not slow and not gpu" -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The web console's pages as the README shows them (services/web/screenshots/), from a real run in Chromium.
screenshots: $(STAMP) browser
	$(BIN)/python -m services.tools.screenshots --out services/web/screenshots

# Debian's Chromium for the web console's browser tests (tests/integration/test_web_console.py), installed
# when missing; the tests fail in CI without it, never skip.
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		{ echo "no $(CHROMIUM): install Debian's chromium package (apt-get install chromium)"; exit 1; }; }

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m "slow" -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-all: $(STAMP) browser
	$(BIN)/python -m pytest -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The shipped detector, end to end on the 2-core CPU machine (about 10 min of simulation and 82 min of
# training): ASPP-YOLO on ImageNet EfficientNet-Lite0, trained across scanner profiles (domain
# randomisation: sixray twice as often as vivid and greyscale, screens jittered per frame; teal held out),
# 10 epochs, then 6 more at a lower rate on 3000 fresh frames. models/weights/README.md is its card.
DATA := data
RUN := runs/lite320z
WEIGHTS := models/weights
TRAIN_MIX := --scanner sixray:2,vivid,greyscale --jitter 0.5
TRAIN_OPTS := --size nano --backbone efficientnet-lite0 --freeze dark2 --img-size 320 --zoom 1,2 --degrade 0.3 --optimizer adamw
weights: $(STAMP)
	$(BIN)/lanewatch synth --out $(DATA)/train_dr --count 3000 --seed 1 --workers 2 --format coco --quiet $(TRAIN_MIX)
	$(BIN)/lanewatch synth --out $(DATA)/train_dr2 --count 3000 --seed 3 --workers 2 --format coco --quiet $(TRAIN_MIX)
	$(BIN)/lanewatch synth --out $(DATA)/val_dr --count 300 --seed 2 --workers 2 --format coco --quiet $(TRAIN_MIX)
	$(BIN)/lanewatch train --data $(DATA)/train_dr --val $(DATA)/val_dr $(TRAIN_OPTS) --epochs 10 --lr 0.001 \
		--warmup-epochs 1 --seed 0 --out $(RUN)
	$(BIN)/lanewatch train --data $(DATA)/train_dr2 --val $(DATA)/val_dr $(TRAIN_OPTS) --init $(RUN)/best.pt \
		--epochs 6 --lr 0.0003 --warmup-epochs 0.5 --seed 1 --out $(RUN)_s2
	$(BIN)/lanewatch export --weights $(RUN)_s2/best.pt --format pt --img-size 416 --out $(WEIGHTS)/aspp_yolo_nano.pt
	$(BIN)/lanewatch export --weights $(WEIGHTS)/aspp_yolo_nano.pt --format onnx --out $(WEIGHTS)/aspp_yolo_nano.onnx

# The previous recipe, kept for comparison: CSP-Darknet nano from scratch on the default profile only
# (about 5 min of simulation and 45 min of training); writes runs/nano320z, not the shipped weights.
weights-nano: $(STAMP)
	$(BIN)/lanewatch synth --out $(DATA)/train --count 3000 --seed 1 --workers 2 --format coco --quiet
	$(BIN)/lanewatch synth --out $(DATA)/val --count 300 --seed 2 --workers 2 --format coco --quiet
	$(BIN)/lanewatch train --data $(DATA)/train --val $(DATA)/val --size nano --epochs 28 --img-size 320 --zoom 1,2 \
		--optimizer adamw --lr 0.0015 --warmup-epochs 1 --seed 0 --out runs/nano320z
	$(BIN)/lanewatch export --weights runs/nano320z/best.pt --format pt --img-size 416 --out runs/nano320z/aspp_yolo_nano.pt
	$(BIN)/lanewatch export --weights runs/nano320z/aspp_yolo_nano.pt --format onnx --out runs/nano320z/aspp_yolo_nano.onnx

# The acceptance checks (sets never used in training): the default profile (seed 99, 10 % negatives), the
# held-out teal scanner (seed 98), scan level (seed 97, 50 % negatives), and the real dev scans when present.
EVAL := runs/eval
EVAL_WEIGHTS := $(WEIGHTS)/aspp_yolo_nano.onnx
eval-weights: $(STAMP)
	$(BIN)/lanewatch synth --out $(DATA)/test --count 500 --seed 99 --negatives-ratio 0.1 --workers 2 --format coco --quiet
	$(BIN)/lanewatch synth --out $(DATA)/test_teal --count 500 --seed 98 --negatives-ratio 0.1 --scanner teal --workers 2 --format coco --quiet
	$(BIN)/lanewatch synth --out $(DATA)/test_scan --count 500 --seed 97 --negatives-ratio 0.5 --workers 2 --format coco --quiet
	$(BIN)/lanewatch eval detector --weights $(EVAL_WEIGHTS) --data $(DATA)/test --json $(EVAL)/test.json
	$(BIN)/lanewatch eval detector --weights $(EVAL_WEIGHTS) --data $(DATA)/test_teal --json $(EVAL)/teal.json
	$(BIN)/lanewatch eval detector --weights $(EVAL_WEIGHTS) --data $(DATA)/test_scan --target-recall 0.9 --json $(EVAL)/scan.json
	if [ -d $(REAL) ]; then $(BIN)/lanewatch eval detector --weights $(EVAL_WEIGHTS) --data $(REAL) --json $(EVAL)/real.json; fi

# Fine-tuning's value without real data: the shipped weights on the held-out teal profile before and after
# `train --init` on 50 labelled teal frames (the card's figures; a few minutes).
eval-finetune: $(STAMP)
	$(BIN)/lanewatch synth --out $(DATA)/teal50 --count 50 --seed 96 --scanner teal --workers 2 --format coco --quiet
	$(BIN)/lanewatch synth --out $(DATA)/teal_val --count 100 --seed 95 --scanner teal --workers 2 --format coco --quiet
	$(BIN)/lanewatch synth --out $(DATA)/test_teal --count 500 --seed 98 --negatives-ratio 0.1 --scanner teal --workers 2 --format coco --quiet
	$(BIN)/lanewatch train --data $(DATA)/teal50 --val $(DATA)/teal_val --size nano --init $(WEIGHTS)/aspp_yolo_nano.pt \
		--freeze dark2 --epochs 6 --img-size 320 --zoom 1,2 --optimizer adamw --lr 0.0003 --warmup-epochs 1 --seed 0 \
		--out runs/ft_teal50
	$(BIN)/lanewatch eval detector --weights $(WEIGHTS)/aspp_yolo_nano.onnx --data $(DATA)/test_teal --json $(EVAL)/teal.json
	$(BIN)/lanewatch export --weights runs/ft_teal50/best.pt --format onnx --img-size 416 --out runs/ft_teal50/teal50.onnx
	$(BIN)/lanewatch eval detector --weights runs/ft_teal50/teal50.onnx --data $(DATA)/test_teal --json runs/ft_teal50/teal.json

# The X-ray modules side by side (README: "The X-ray modules, measured side by side"; about 70 min on 2 cores):
# each row fine-tunes the shipped weights with the same frames, steps and seed, then `eval ablation` compares
# them on the simulator (seed 99), the held-out teal profile (seed 98) and the real dev scans when present.
ABL := runs/abl
ABL_OPTS := $(TRAIN_OPTS) --init $(WEIGHTS)/aspp_yolo_nano.pt --epochs 2 --lr 0.0003 --warmup-epochs 0.5 --seed 0
ABL_ROWS := baseline: doam:--doam doam_o:--doam,--oversample-hard,3 oversample:--oversample-hard,3 la_cls:--label-aware,cls \
	la_reg:--label-aware,reg doam_o_la_cls:--doam,--oversample-hard,3,--label-aware,cls
ablation: $(STAMP)
	$(BIN)/lanewatch synth --out $(DATA)/abl_train --count 1200 --seed 11 --workers 2 --format coco --quiet $(TRAIN_MIX)
	$(BIN)/lanewatch synth --out $(DATA)/abl_val --count 100 --seed 12 --workers 2 --format coco --quiet $(TRAIN_MIX)
	$(BIN)/lanewatch synth --out $(DATA)/test --count 500 --seed 99 --negatives-ratio 0.1 --workers 2 --format coco --quiet
	$(BIN)/lanewatch synth --out $(DATA)/test_teal --count 500 --seed 98 --negatives-ratio 0.1 --scanner teal --workers 2 --format coco --quiet
	set -e; for row in $(ABL_ROWS); do name=$${row%%:*}; opts=$$(echo $${row#*:} | tr , ' '); \
		$(BIN)/lanewatch train --data $(DATA)/abl_train --val $(DATA)/abl_val $(ABL_OPTS) $$opts --out $(ABL)/$$name; \
		$(BIN)/lanewatch export --weights $(ABL)/$$name/best.pt --format pt --img-size 416 --out $(ABL)/$$name/model.pt; \
		$(BIN)/lanewatch export --weights $(ABL)/$$name/model.pt --format onnx --out $(ABL)/$$name/model.onnx; done
	$(BIN)/lanewatch eval ablation $(foreach row,$(ABL_ROWS),--model $(firstword $(subst :, ,$(row)))=$(ABL)/$(firstword $(subst :, ,$(row)))/model.onnx) \
		--data sim=$(DATA)/test --data teal=$(DATA)/test_teal --data real=$(REAL) --json $(ABL)/ablation.json --markdown $(ABL)/ablation.md

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
