# Two commands on a fresh machine: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OPENCV := opencv-python-headless==5.0.0.93
export SCREENALYTICS_MODEL_DIR ?= $(HOME)/.cache/screenalytics/models
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 90

.PHONY: setup models demo test lint benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@# insightface pulls the GUI opencv-python beside the headless build; both own cv2/: keep headless only
	$(BIN)/pip uninstall -y -q opencv-python
	$(BIN)/pip install -q --force-reinstall --no-deps $(OPENCV)
	touch $(STAMP)

setup: $(STAMP) models

models: $(STAMP)
	$(BIN)/screenalytics models install

demo: setup
	$(BIN)/screenalytics sample out/sample
	$(BIN)/screenalytics run out/sample/episode.mp4 --ep-id sample --facebank out/sample/facebank

test: setup
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check screenalytics tasks flows tests .ci
	$(BIN)/python .ci/import_floors.py --max-floors 4 --no-cycles
	$(BIN)/python .ci/stage_yaml.py

benchmark: setup
	$(BIN)/python -m screenalytics.benchmark

clean:
	rm -rf $(VENV) out data *.egg-info
