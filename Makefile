# Sentinel: two commands for a newcomer.
#   make run    set up (first time) and start the whole system on embedded defaults
#   make test   set up (first time) and run every test
# Setup is idempotent: each step reruns only when its inputs changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VPY := $(VENV)/bin/python
LAUNCH ?= launch/sentinel.launch.xml
# Extra launch arguments, e.g. make run ARGS="world:=solar_farm"
ARGS ?=
# Scenario for `make demo` (scenarios/*.yaml) and extra sentinel-demo arguments
SCENARIO ?= scenarios/substation_all.yaml
DEMO_ARGS ?=
# Extra pytest arguments, e.g. make test PYTEST_ARGS="-k launch -x"
PYTEST_ARGS ?=
# What `make setup` installs: runtime (no torch), train (plus training) or dev (plus tests)
PROFILE ?= dev

.PHONY: help setup run test dataset train model demo chaos clean distclean
# Dataset and training settings: the defaults reproduce the shipped model (docs/models.md).
# DEVICE=cuda trains on a GPU (about 7 min on one H100); the CPU default takes hours.
TRAIN_IMAGES ?= 5500
TRAIN_SEED ?= 2
HELDOUT_IMAGES ?= 600
IMAGE_FORMAT ?= jpg
MODEL_YAML ?= yolov8n.yaml
EPOCHS ?= 37
BATCH ?= 64
DEVICE ?= cpu
# The new model's registry version (evaluated once, so every step names the same one)
ifndef VERSION
VERSION := det-$(shell date -u +%Y%m%d-%H%M)
endif

help:
	@echo "make run     start Sentinel (launch file $(LAUNCH), ARGS='name:=value ...')"
	@echo "make test    run the whole test suite (PYTEST_ARGS='...')"
	@echo "make setup   create $(VENV): ROS 2 wheels, sentinel_msgs, packages (idempotent; PROFILE=runtime|train|dev)"
	@echo "make dataset render a training set and a held-out set from both worlds into data/"
	@echo "make train   train, evaluate and register a detector from data/ (installs the train extra)"
	@echo "make model   both: regenerate the data, then train, evaluate and register"
	@echo "make demo    run SCENARIO headless against the whole system and write its report (DEMO_ARGS='--out DIR')"
	@echo "make chaos   only the chaos suite (part of make test): kill nodes, cut a link, stop the database"
	@echo "make clean   remove build outputs (keeps $(VENV))"
	@echo "make distclean  remove build outputs and $(VENV)"

setup:
	@$(PYTHON) tools/setup_workspace.py --profile $(PROFILE)

run:
	@$(PYTHON) tools/setup_workspace.py --profile runtime
	@echo "Sentinel is starting. Where to look (default ports; ARGS may change them):"
	@echo "  Foxglove:  open ws://127.0.0.1:8765 in Foxglove, import config/foxglove_layout.json"
	@echo "  Operator API docs: http://127.0.0.1:8080/docs"
	@echo "  First run: operator_api logs the 'operator' account's generated password once"
	@echo "  Stop with Ctrl-C."
	@$(VPY) -m sentinel_launch $(LAUNCH) $(ARGS)

test:
	@$(PYTHON) tools/setup_workspace.py --profile dev
	@$(VPY) -m pytest $(PYTEST_ARGS)

dataset:
	@$(PYTHON) tools/setup_workspace.py --profile runtime
	@$(VPY) -m sentinel_models.cli_dataset generate --worlds substation solar_farm \
		--images $(TRAIN_IMAGES) --seed $(TRAIN_SEED) --image-format $(IMAGE_FORMAT) --out data/train
	@$(VPY) -m sentinel_models.cli_dataset generate --worlds substation solar_farm \
		--images $(HELDOUT_IMAGES) --seed 1001 --val-fraction 1.0 --image-format $(IMAGE_FORMAT) \
		--out data/heldout

train:
	@$(PYTHON) tools/setup_workspace.py --profile train
	@$(VPY) -m sentinel_models.cli_train --data data/train --test-data data/heldout \
		--model-yaml $(MODEL_YAML) --epochs $(EPOCHS) --batch $(BATCH) --imgsz 320 --device $(DEVICE) \
		--version $(VERSION)
	@$(VPY) -m sentinel_perception.drift_baseline data/train --model models/$(VERSION)/model.onnx \
		--input-size 320 --normal-only --max-images 1200 --out models/$(VERSION)/drift_baseline.json

model: dataset train

demo:
	@$(PYTHON) tools/setup_workspace.py --profile runtime
	@$(VPY) -m sentinel_scenarios $(SCENARIO) $(DEMO_ARGS)

chaos:
	@$(PYTHON) tools/setup_workspace.py --profile dev
	@$(VPY) -m pytest test/system/test_chaos.py -rs $(PYTEST_ARGS)

clean:
	rm -rf build .pytest_cache

distclean: clean
	rm -rf $(VENV)
