# Two commands do all the set-up: `make serve` (the bundled model on 127.0.0.1:8080)
# and `make test` (tools and the whole suite). Each builds its own virtualenv once.
PYTHON ?= python3
PORT ?= 8080

.PHONY: serve test

serve: .venv/runtime.stamp
	.venv/bin/functions-framework --target predict --source main.py --host 127.0.0.1 --port $(PORT)

test: .venv/dev.stamp
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/python -m pytest

.venv/runtime.stamp: requirements.txt
	$(PYTHON) -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

.venv/dev.stamp: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch .venv/runtime.stamp $@
