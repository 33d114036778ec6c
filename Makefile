# The two commands a new user needs are `make run` and `make test`; both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint messages bench install clean

run: $(STAMP)  ## set up and run the Procfile's processes (+ Redis if none answers) on 127.0.0.1:$${PORT:-8000}
	@DEBUG=$${DEBUG:-on} $(BIN)/python -m devtools.run

# TEST_REDIS_DB gives a second test run beside the first its own queues (default 15).
test: $(STAMP)  ## set up and run the whole suite (Redis started if none answers, SMTP sink by the tests)
	@DEBUG=$${DEBUG:-on} $(BIN)/python -m devtools.with_redis --db $${TEST_REDIS_DB:-15} -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# N: readers of the end-to-end send (default 20000; 100000 and 1000000 work); ROWS: CSV import rows.
# BENCH_DATABASE_URL: the PostgreSQL server of the second pass (skipped, saying so, if it does not answer).
bench: $(STAMP)  ## the benchmarks beside the machine's limit, one JSON line per figure, on SQLite then PostgreSQL
	@DEBUG=$${DEBUG:-on} BENCH_DATABASE_URL=$${BENCH_DATABASE_URL-postgres://postgres@127.0.0.1:5432/postgres} $(BIN)/python -m devtools.with_redis --db 14 -- $(BIN)/python -m benchmarks --n $${N:-20000} --rows $${ROWS:-100000}

lint: $(STAMP)  ## ruff + mypy + complete translations
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=on $(BIN)/mypy .
	$(BIN)/python -m devtools.messages check

messages: $(STAMP)  ## after changing reader-facing strings: merge them into locale/*.po, compile the .mo files
	$(BIN)/python -m devtools.messages update

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (this is " + sys.version.split()[0] + "); run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV) (first run only)…"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check '.[dev]'
	@touch $(STAMP)

clean:  ## remove the virtualenv and everything under var/ (database, outbox, local Redis data)
	rm -rf $(VENV) var
