"""Monthly range partitions on PostgreSQL for the tables that only grow.

A partitioned table has one partition per calendar month of its key (UTC), named
`<table>_pYYYYMM`, and a `<table>_default` partition that takes any row no month covers, so an
insert never fails for want of a partition. `ensure_month` creates a month's partition (moving
the rows the default partition already holds for it); `drop_month` drops a past month, unless
one of its rows must be kept. `partition_table` turns an existing plain table into a
partitioned one (a migration's work: it copies the rows). SQLite keeps plain tables.

Every function takes a synchronous `Connection` inside the caller's transaction (an Alembic
migration's, or the CLI's through `AsyncConnection.run_sync`); table and column names come from
flightdeck/data_layout.py, never from input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

DEFAULT_SUFFIX = "_default"
_BOUNDS = re.compile(r"FROM \('(?P<lower>[^']+)'\) TO \('(?P<upper>[^']+)'\)")


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y%m}"


def _start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def _instant(month: date) -> str:
    return _start(month).isoformat()


@dataclass(frozen=True)
class Partition:
    name: str
    lower: datetime | None  # None: the default partition
    upper: datetime | None

    @property
    def is_default(self) -> bool:
        return self.lower is None


def _parse_instant(value: str) -> datetime:
    # PostgreSQL writes "2026-12-01 00:00:00+00" in the bound (the session is in UTC).
    parsed = datetime.fromisoformat(value.replace(" ", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def partitions_of(conn: Connection, table: str) -> list[Partition]:
    """The partitions of `table`, oldest first, the default one last ([] if not partitioned)."""
    conn.execute(text("SET LOCAL TimeZone = 'UTC'"))
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:table)"
        ),
        {"table": table},
    ).all()
    found = []
    for name, bound in rows:
        match = _BOUNDS.search(bound or "")
        if match is None:
            found.append(Partition(name, None, None))
        else:
            lower, upper = _parse_instant(match["lower"]), _parse_instant(match["upper"])
            found.append(Partition(name, lower, upper))
    return sorted(found, key=lambda p: (p.is_default, p.lower or datetime.max.replace(tzinfo=UTC)))


def partition_names(conn: Connection) -> set[str]:
    """Every partition of a partitioned table: part of its parent, not a table of the models
    (schema comparisons leave them out)."""
    if conn.dialect.name != "postgresql":
        return set()
    return set(conn.scalars(text("SELECT relname FROM pg_class WHERE relispartition")))


def is_partitioned(conn: Connection, table: str) -> bool:
    query = text("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(:t)")
    return bool(conn.scalar(query, {"t": table}) == "p")


def ensure_month(conn: Connection, table: str, key: str, month: date) -> bool:
    """Creates the partition of `month` unless it exists; True if it was created. Rows the
    default partition holds for that month move into it (in this transaction)."""
    name = month_partition_name(table, month)
    if conn.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}):
        return False
    lower, upper = _instant(month), _instant(add_months(month, 1))
    bounds = {"lower": _start(month), "upper": _start(add_months(month, 1))}
    default = f"{table}{DEFAULT_SUFFIX}"
    # Identifiers come from flightdeck/data_layout.py, values are bound: nothing from input.
    in_range = f"{key} >= :lower AND {key} < :upper"
    waiting = f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {in_range})"  # noqa: S608
    create = f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ('{lower}') TO ('{upper}')"
    if not conn.scalar(text(waiting), bounds):
        conn.execute(text(create))
        return True
    # The default partition may not keep rows a new partition covers: move them across.
    move = f"INSERT INTO {name} SELECT * FROM {default} WHERE {in_range}"  # noqa: S608
    conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {default}"))
    conn.execute(text(create))
    conn.execute(text(move), bounds)
    conn.execute(text(f"DELETE FROM {default} WHERE {in_range}"), bounds)  # noqa: S608
    conn.execute(text(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT"))
    return True


def drop_month(conn: Connection, partition: Partition, keep_while: str | None) -> bool:
    """Drops a month's partition; False (and nothing done) if a row matches `keep_while`."""
    if partition.is_default:
        raise ValueError("the default partition is never dropped")
    if keep_while is not None:
        needed = f"SELECT EXISTS (SELECT 1 FROM {partition.name} WHERE {keep_while})"  # noqa: S608
        if conn.scalar(text(needed)):
            return False
    conn.execute(text(f"DROP TABLE {partition.name}"))
    return True


# --- turning a plain table into a partitioned one (migrations) ---------------------------------


@dataclass(frozen=True)
class _TableParts:
    indexes: list[str]  # CREATE INDEX statements (not the primary key's)
    index_names: list[str]
    foreign_keys: list[tuple[str, str]]  # (name, definition)
    sequences: list[tuple[str, str]]  # (sequence, the column that owns it)


def _table_parts(conn: Connection, table: str, primary_key_name: str) -> _TableParts:
    params = {"t": table, "pk": primary_key_name}
    indexes = conn.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = :t AND indexname <> :pk"
        ),
        params,
    ).all()
    foreign_keys = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(:t) AND contype = 'f'"
        ),
        params,
    ).all()
    sequences = conn.execute(
        text(
            "SELECT s.relname, a.attname FROM pg_depend d "
            "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE d.refobjid = to_regclass(:t) AND d.deptype = 'a'"
        ),
        params,
    ).all()
    referenced = conn.scalar(
        text("SELECT count(*) FROM pg_constraint WHERE confrelid = to_regclass(:t)"), params
    )
    if referenced:
        raise RuntimeError(f"{table} is referenced by foreign keys: it cannot be partitioned")
    return _TableParts(
        indexes=[definition for _, definition in indexes],
        index_names=[name for name, _ in indexes],
        foreign_keys=[(name, definition) for name, definition in foreign_keys],
        sequences=[(sequence, column) for sequence, column in sequences],
    )


def _rebuild(
    conn: Connection,
    table: str,
    primary_key: list[str],
    partition_by: str | None,
    months: Sequence[date] = (),
) -> None:
    """Recreates `table` (partitioned by month of `partition_by`, with these `months`, or
    plain) with `primary_key`, its indexes, foreign keys, defaults and checks, and its rows."""
    pk_name = f"pk_{table}"
    parts = _table_parts(conn, table, pk_name)
    old = f"{table}_rebuilt_from"
    for name in parts.index_names:
        conn.execute(text(f"DROP INDEX {name}"))
    conn.execute(text(f"ALTER TABLE {table} RENAME CONSTRAINT {pk_name} TO {pk_name}_old"))
    for sequence, _ in parts.sequences:
        conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY NONE"))
    conn.execute(text(f"ALTER TABLE {table} RENAME TO {old}"))
    like = f"LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED"
    partitioning = f" PARTITION BY RANGE ({partition_by})" if partition_by else ""
    conn.execute(text(f"CREATE TABLE {table} ({like}){partitioning}"))
    columns = ", ".join(primary_key)
    conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {pk_name} PRIMARY KEY ({columns})"))
    if partition_by:
        conn.execute(text(f"CREATE TABLE {table}{DEFAULT_SUFFIX} PARTITION OF {table} DEFAULT"))
        for month in months:  # before the rows arrive: each goes straight to its month
            ensure_month(conn, table, partition_by, month)
    for definition in parts.indexes:
        conn.execute(text(definition))
    for name, definition in parts.foreign_keys:
        conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))
    conn.execute(text(f"INSERT INTO {table} SELECT * FROM {old}"))  # noqa: S608 - our names
    conn.execute(text(f"DROP TABLE {old}"))
    for sequence, column in parts.sequences:
        conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY {table}.{column}"))


def partition_table(
    conn: Connection,
    table: str,
    key: str,
    primary_key: list[str],
    *,
    now: datetime,
    months_ahead: int = 2,
) -> None:
    """Turns the plain `table` into one range-partitioned by month of `key` (which must be in
    `primary_key`), with its rows: a partition for every month from its oldest row's to
    `months_ahead` after now's, and the default partition."""
    if key not in primary_key:
        raise ValueError(f"the partition key {key} must be in the primary key")
    oldest = conn.scalar(text(f"SELECT min({key}) FROM {table}"))  # noqa: S608 - our names
    month = month_start(oldest if oldest is not None and oldest < now else now)
    months = []
    while month <= add_months(month_start(now), months_ahead):
        months.append(month)
        month = add_months(month, 1)
    _rebuild(conn, table, primary_key, partition_by=key, months=months)


def unpartition_table(conn: Connection, table: str, primary_key: list[str]) -> None:
    """The reverse of `partition_table`: a plain table again, with its rows."""
    _rebuild(conn, table, primary_key, partition_by=None)


# --- keeping them up ---------------------------------------------------------------------------


@dataclass
class Maintenance:
    """What one round did to one table."""

    table: str
    created: list[str]
    dropped: list[str]
    kept: list[str]  # expired, but holding rows still needed
    partitions: int  # after the round, the default one included


def maintain(
    conn: Connection,
    table: str,
    key: str,
    *,
    now: datetime,
    months_ahead: int,
    retention_days: int,
    keep_while: str | None = None,
) -> Maintenance:
    """Creates the partitions of this month and the `months_ahead` after it, and drops the
    months that ended more than `retention_days` ago (0: none), keeping any with a row
    matching `keep_while`."""
    if not is_partitioned(conn, table):
        raise LookupError(f"{table} is not partitioned (run `flightdeck migrate` first)")
    this_month = month_start(now)
    created = [
        month_partition_name(table, add_months(this_month, n))
        for n in range(months_ahead + 1)
        if ensure_month(conn, table, key, add_months(this_month, n))
    ]
    dropped: list[str] = []
    kept: list[str] = []
    if retention_days > 0:
        cutoff = now - timedelta(days=retention_days)
        for partition in partitions_of(conn, table):
            if partition.upper is None or partition.upper > cutoff:
                continue
            (dropped if drop_month(conn, partition, keep_while) else kept).append(partition.name)
    return Maintenance(table, created, dropped, kept, len(partitions_of(conn, table)))
