# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lcml-installed
export LCML_HOME ?= $(CURDIR)/.lcml
export HF_HUB_OFFLINE := 1

.PHONY: setup demo test mlflow-ui airflow-ui serve clean

setup: $(STAMP)  ## create .venv, install lcml with pinned dependencies, and the Debian packages the tests start (idempotent)
	@scripts/system-packages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: setup  ## run the retrain_classifiers DAG end to end on the embedded default
	$(BIN)/lcml demo

TEST_WORKERS ?= 2

test: setup  ## the whole test suite (what .ci/run calls), on $(TEST_WORKERS) pytest-xdist workers
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

mlflow-ui: setup  ## MLflow UI over the local state on http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(LCML_HOME)/mlflow.db \
	  --default-artifact-root $(LCML_HOME)/mlartifacts --host 127.0.0.1 --port 5000

airflow-ui: setup  ## Airflow (api-server, scheduler, dag-processor) on http://127.0.0.1:8080
	$(BIN)/lcml airflow standalone

serve: setup  ## REST scoring of the champion on http://127.0.0.1:5001/invocations (413 above the batch limit)
	$(BIN)/lcml serve --model models:/kepler-variable-star-classifier@champion --port 5001

clean:  ## remove the local state and the releases (keeps .venv)
	rm -rf $(LCML_HOME) data
