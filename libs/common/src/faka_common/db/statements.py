"""Core statements compiled once and run straight on the session's asyncpg connection, for hot paths.

Through a session, every call of a statement (built once or not) goes through SQLAlchemy's per-call
machinery: cache key, compiled-cache lookup, execution context, result wrapping. That cost 0.15-0.20 ms of
CPU a statement over the driver's own 0.12-0.15 ms (micro-benchmark: the locked read of an order), and a sale
runs about fifty such statements. A `Compiled` is the SQL SQLAlchemy generated for the statement, compiled
once for asyncpg (`$n` parameters with their casts), run with `fetch_rows`'s machinery: in the session's
transaction, or on its own for a reader session (`reader_factory`). The bind processors of the statement's
parameters (JSONB serialized, ...) are applied, so it takes the same values as the session would."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from faka_common.db.uow import fetch_records

_DIALECT = asyncpg_dialect()


def mapping(row: Any) -> Mapping[str, Any]:
    """A row as a mapping of column name to value: a `Compiled` statement's row as it is, a row of a
    statement run through the session by its `_mapping` (for the repositories that read both ways)."""
    found: Mapping[str, Any] = getattr(row, "_mapping", row)
    return found


class Compiled:
    """`statement` as asyncpg runs it. `column_keys`: the columns an INSERT or UPDATE without values sets
    (as the keys of the parameters it is run with). A statement whose parameters expand (`IN` over a list)
    or whose result columns need SQLAlchemy's processing is refused here, at import."""

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        keys = list(column_keys or ()) or None
        compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT, column_keys=keys))
        self.sql = compiled.string
        if "POSTCOMPILE" in self.sql:
            raise ValueError(
                "a statement with expanding parameters is compiled per call; run it in a session"
            )
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._bound = {name: value for name, value in compiled.params.items() if value is not None}
        processors = {name: compiled.binds[name].type.bind_processor(_DIALECT) for name in self._names}
        self._processors: dict[str, Callable[[Any], Any]] = {n: p for n, p in processors.items() if p}
        for column in getattr(statement, "selected_columns", ()):
            if column.type.result_processor(_DIALECT, None) is not None:
                raise ValueError(f"column {column.name} needs SQLAlchemy's result processing")

    @property
    def parameters(self) -> int:
        """How many positional parameters it takes: $1 to $n (a statement built around it numbers its own
        from n + 1)."""
        return len(self._names)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional values of `params` (and of the values bound in the statement), processed."""
        values = []
        for name in self._names:
            value = params[name] if name in params else self._bound[name]
            processor = self._processors.get(name)
            values.append(processor(value) if processor is not None and value is not None else value)
        return values

    async def rows(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Every row, each a mapping of column name to value."""
        return await fetch_records(session, self.sql, *self.args(params))

    async def first(self, session: AsyncSession, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        rows = await self.rows(session, params)
        return rows[0] if rows else None

    async def run(self, session: AsyncSession, params: Mapping[str, Any]) -> None:
        await self.rows(session, params)
