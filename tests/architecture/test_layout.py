"""The house rules a newcomer relies on, checked on the source itself."""

from __future__ import annotations

import ast

from .imports import cycles, import_graph, imports_of, modules

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
# What one domain may import of another: its services, errors, public shapes and records,
# and the airports reference data. Never its repositories, models, routers or modules.
PUBLIC_PARTS = {"service", "errors", "schemas", "records", "airports"}


def test_no_import_circle_anywhere_in_src() -> None:
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_platform_imports_no_domain() -> None:
    known = modules()
    offenders = {
        name: sorted(t for t in imports_of(module, known) if known[t].domain is not None)
        for name, module in known.items()
        if name.startswith("flightdeck.platform")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_domains_reach_each_other_only_through_public_parts() -> None:
    known = modules()
    offenders = []
    for name, module in known.items():
        if module.domain is None or name.endswith(".module"):
            continue  # a domain's module.py registers its hooks with the other's service
        for target in imports_of(module, known):
            other = known[target]
            public = target.rpartition(".")[2] in PUBLIC_PARTS
            if other.domain not in (None, module.domain) and not public:
                offenders.append(f"{name} -> {target}")
    assert offenders == []


def test_admin_owns_no_table_and_reads_others_only_through_their_services() -> None:
    known = modules()
    reached = {
        target
        for name, module in known.items()
        if module.domain == "admin"
        for target in imports_of(module, known)
        if known[target].domain not in (None, "admin")
    }
    assert reached, "the admin domain composes the other domains' figures"
    kinds = {target.rpartition(".")[2] for target in reached}
    assert kinds <= {"service", "schemas", "records", "errors", "airports"}, sorted(reached)
    assert not [
        name
        for name in known
        if name.startswith("flightdeck.admin.") and (name.endswith((".models", ".repository")))
    ]


def test_no_module_over_500_lines() -> None:
    long = {
        name: n
        for name, module in modules().items()
        if (n := len(module.path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_over_60_lines() -> None:
    long = []
    for name, module in modules().items():
        for node in ast.walk(ast.parse(module.path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length}")
    assert long == []


def test_flights_is_split_into_use_case_packages() -> None:
    names = set(modules())
    for package in ("schedules", "status", "inventory", "itineraries"):
        assert f"flightdeck.flights.{package}.service" in names
    assert not [n for n in names if n.startswith("flightdeck.flights.") and "_" in n.split(".")[2]]
