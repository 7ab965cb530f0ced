# kehu: `make up` runs everything on this machine, `make test` installs what it needs and tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
SYSTEM_PG ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: install up test test-fast lint bench bench-tickets clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kehu needs Python 3.11 or newer (set PYTHON=python3.x)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

up: install
	$(BIN)/kehu up

# Everything against the embedded PostgreSQL; then the database tests again against the system
# PostgreSQL when one answers on 127.0.0.1:5432 (CI machines run one).
test: install lint
	@.ci/browser-deps
	$(BIN)/python -m pytest -q
	@if $(BIN)/python -m tests.pg_answers "$(SYSTEM_PG)"; then \
		echo "== database tests against the system PostgreSQL ($(SYSTEM_PG))"; \
		KEHU_TEST_DATABASE_URL="$(SYSTEM_PG)" $(BIN)/python -m pytest -q -m "database and not contract"; \
	else echo "== no system PostgreSQL on 127.0.0.1:5432: database tests ran on the embedded server only"; fi

test-fast: install
	$(BIN)/python -m pytest -q -m "not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy shared services kehu console

bench: install
	$(BIN)/python benchmarks/e2e_latency.py

# Issue 13's targets: an SLA sweeper pass over 100,000 open tickets, POST /tickets p99 at 200/s.
bench-tickets: install
	$(BIN)/python benchmarks/tickets.py

clean:
	rm -rf $(VENV) .kehu build *.egg-info
