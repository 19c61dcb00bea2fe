"""Writing the index: a block range's rows with its block hashes and the cursor, in one transaction; rolling back
to a fork point after a reorganization."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from verifier.index.events import Rows
from verifier.index.queries import Q_META
from verifier.index.schema import BLOCK_TABLES, blocks_table, meta_table

__all__ = ["commit_range", "rollback", "set_meta"]


def commit_range(writer: Engine, first: int, last: int, rows: Rows, *, start_block: int, reorg_depth: int) -> bool:
    """Write one block range's rows, its block hashes and the cursor in one transaction; False (nothing written)
    when the cursor is not at ``first - 1`` (another process took the range in).
    """
    with writer.begin() as conn:
        cursor = conn.execute(Q_META, {"key": "last_block"}).scalar()
        if (int(cursor) if cursor is not None else start_block - 1) != first - 1:
            return False
        for table in BLOCK_TABLES:
            if rows.tables.get(table.name):
                conn.execute(table.insert(), rows.tables[table.name])
        conn.execute(
            sqlite_insert(blocks_table).on_conflict_do_nothing(),
            [{"number": n, "hash": h, "timestamp": ts} for n, (h, ts) in rows.blocks.items()],
        )
        tip_hash, tip_time = rows.blocks[last]
        set_meta(conn, last_block=str(last), last_hash=tip_hash.hex(), last_timestamp=str(tip_time))
        # Keep the hashes of the last reorg_depth blocks, and the newest one below them as the floor.
        cut = last - reorg_depth
        floor = conn.execute(select(func.max(blocks_table.c.number)).where(blocks_table.c.number <= cut)).scalar()
        if floor is not None:
            pruned = conn.execute(delete(blocks_table).where(blocks_table.c.number < floor)).rowcount
            if pruned:
                set_meta(conn, pruned="1")
    return True


def set_meta(conn: Connection, **values: str) -> None:
    """Set meta values (the cursor, the pruned flag)."""
    stmt = sqlite_insert(meta_table)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}),
        [{"key": k, "value": v} for k, v in values.items()],
    )


def rollback(writer: Engine, fork: int) -> None:
    """Delete every row above block ``fork`` and put the cursor back on it (before the deployment: start over)."""
    with writer.begin() as conn:
        for table in BLOCK_TABLES:
            conn.execute(delete(table).where(table.c.block_number > fork))
        conn.execute(delete(blocks_table).where(blocks_table.c.number > fork))
        base = conn.execute(select(blocks_table).where(blocks_table.c.number == fork)).first()
        if base is None:  # back to before the deployment: start over
            conn.execute(delete(blocks_table))
            conn.execute(delete(meta_table).where(meta_table.c.key.in_(["last_block", "last_hash", "last_timestamp"])))
        else:
            set_meta(conn, last_block=str(fork), last_hash=base.hash.hex(), last_timestamp=str(base.timestamp))
