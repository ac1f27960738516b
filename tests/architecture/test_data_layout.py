"""The live schema follows the plan in flightdeck/data_layout.py, on both databases: every table
is declared; a distributed table's primary key and every unique constraint or index include its
distribution column (Citus enforces uniqueness node by node); the tables of one co-location
group share their distribution column's type; the partitioned tables have their key in their
primary key, and on PostgreSQL are partitioned by it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from flightdeck.data_layout import DISTRIBUTION, PARTITIONS, Distributed, Layout, Reference
from flightdeck.platform.partitions import partition_names

IGNORED = {"alembic_version"}


@dataclass
class TableShape:
    primary_key: list[str]
    uniques: list[list[str]] = field(default_factory=list)  # constraints and unique indexes
    types: dict[str, str] = field(default_factory=dict)


def read_schema(connection: Connection) -> dict[str, TableShape]:
    inspector = inspect(connection)
    skipped = IGNORED | partition_names(connection)
    shapes = {}
    for table in inspector.get_table_names():
        if table in skipped:
            continue
        shape = TableShape(inspector.get_pk_constraint(table)["constrained_columns"])
        shape.uniques += [u["column_names"] for u in inspector.get_unique_constraints(table)]
        shape.uniques += [
            [c for c in i["column_names"] if c is not None]
            for i in inspector.get_indexes(table)
            if i["unique"]
        ]
        shape.types = {c["name"]: str(c["type"]) for c in inspector.get_columns(table)}
        shapes[table] = shape
    return shapes


def layout_violations(schema: dict[str, TableShape], plan: dict[str, Layout]) -> list[str]:
    """What in `schema` a Citus layout by `plan` could not hold."""
    problems = [f"{t}: not in flightdeck/data_layout.py" for t in sorted(set(schema) - set(plan))]
    problems += [f"{t}: declared, but no such table" for t in sorted(set(plan) - set(schema))]
    for table, layout in sorted(plan.items()):
        shape = schema.get(table)
        if shape is None or isinstance(layout, Reference):
            continue
        if layout.column not in shape.primary_key:
            problems.append(f"{table}: primary key {shape.primary_key} lacks {layout.column}")
        for columns in shape.uniques:
            if layout.column not in columns:
                problems.append(f"{table}: unique {columns} lacks {layout.column}")
    return problems


def colocation_violations(schema: dict[str, TableShape], plan: dict[str, Layout]) -> list[str]:
    types: dict[str, set[str]] = {}
    for table, layout in plan.items():
        if isinstance(layout, Distributed) and table in schema:
            types.setdefault(layout.group, set()).add(schema[table].types[layout.column])
    return [f"group {g}: distribution columns of types {sorted(t)}" for g, t in types.items()
            if len(t) > 1]  # fmt: skip


async def _live_schema(app: FastAPI) -> dict[str, TableShape]:
    async with app.state.engine.connect() as conn:
        return await conn.run_sync(read_schema)


async def test_every_table_keeps_its_distribution_column_in_its_keys(app: FastAPI) -> None:
    assert layout_violations(await _live_schema(app), DISTRIBUTION) == []


async def test_tables_of_one_group_share_their_distribution_column_type(app: FastAPI) -> None:
    assert colocation_violations(await _live_schema(app), DISTRIBUTION) == []


async def test_partitioned_tables_keep_their_key_in_the_primary_key(
    app: FastAPI, backend: str
) -> None:
    schema = await _live_schema(app)
    for spec in PARTITIONS:
        assert spec.key in schema[spec.table].primary_key, spec.table
    if backend != "postgresql" and backend != "postgres":
        return
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_class c "
                "WHERE c.relkind = 'p' AND c.relname = ANY(:names)"
            ),
            {"names": [spec.table for spec in PARTITIONS]},
        )
        keys = dict(rows.all())
    assert keys == {spec.table: f"RANGE ({spec.key})" for spec in PARTITIONS}


# --- the check itself can fail -------------------------------------------------------------------

PLAN: dict[str, Layout] = {
    "bookings": Distributed("id", "booking"),
    "booking_segments": Distributed("booking_id", "booking"),
    "airports": Reference(),
}


def test_the_check_names_keys_that_lack_the_distribution_column() -> None:
    schema = {
        "bookings": TableShape(["id"], uniques=[["pnr"]], types={"id": "VARCHAR(36)"}),
        "booking_segments": TableShape(["id"], uniques=[["booking_id", "position"]]),
        "airports": TableShape(["code"], uniques=[["name"]]),
        "strays": TableShape(["id"]),
    }
    schema["booking_segments"].types = {"booking_id": "INTEGER"}
    assert layout_violations(schema, PLAN) == [
        "strays: not in flightdeck/data_layout.py",
        "booking_segments: primary key ['id'] lacks booking_id",
        "bookings: unique ['pnr'] lacks id",
    ]
    assert colocation_violations(schema, PLAN) == [
        "group booking: distribution columns of types ['INTEGER', 'VARCHAR(36)']"
    ]
    assert layout_violations({}, {"ghost": Reference()}) == ["ghost: declared, but no such table"]


@pytest.mark.parametrize("spec", PARTITIONS, ids=lambda s: s.table)
def test_a_partitioned_table_is_laid_out(spec: object) -> None:
    from flightdeck.data_layout import Partitioned

    assert isinstance(spec, Partitioned) and spec.table in DISTRIBUTION
