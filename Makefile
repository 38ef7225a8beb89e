# Two commands do all the set-up: `make serve` (the bundled model on 127.0.0.1:8080)
# and `make test` (tools and the whole suite). Each builds its own virtualenv once.
PYTHON ?= python3
PORT ?= 8080

.PHONY: serve test browser screenshot client-tests bigquery-env bigquery-check

serve: .venv/runtime.stamp
	.venv/bin/functions-framework --target predict --source main.py --host 127.0.0.1 --port $(PORT)

test: .venv/dev.stamp browser bigquery-env
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/python -m pytest

# KServe's own client against a real server; installs it into .venv-clients/ once (minutes).
client-tests: .venv/dev.stamp
	.venv/bin/python -m pytest -m clients

# ONNX Runtime 1.12.1, the version BigQuery ML runs, in a Python 3.10 venv of its own under
# .venv-clients/, made once (about 30 s): train.py gates the BigQuery variant there. Without a
# Python 3.10 (pyenv) it says so and the variants are recorded "not checked" (CI has one).
bigquery-env: .venv/dev.stamp
	-.venv/bin/python -m training.bigquery_env

# The BigQuery ML variant's gate and deploy.sh --bigquery-ml, under ONNX Runtime 1.12.1.
bigquery-check: bigquery-env
	.venv/bin/python -m pytest tests/training/test_bigquery_variant.py tests/deploying/test_deploy_bigquery_ml.py

# The browser tests' Chromium and its driver, from the distribution. Installed only as root (CI
# runs as root); anyone else gets one line saying how, and the browser tests skip themselves.
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
USER_ID ?= $(shell id -u)

browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then :; \
	elif [ "$(USER_ID)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	else \
		echo "Chromium is not installed, so the browser tests will be skipped: 'sudo make browser' installs it"; \
	fi

# docs/request-formats.md's picture of the model card, taken in headless Chromium on the bundled model.
screenshot: .venv/dev.stamp browser
	.venv/bin/python -m tests.support.browser card.png

.venv/runtime.stamp: requirements.txt
	$(PYTHON) -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

.venv/dev.stamp: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch .venv/runtime.stamp $@
