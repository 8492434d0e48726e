"""DuckDB over a corpus run's Parquet shards: one connection with bounded memory, and a view of a run's rows.
Shared by the Experts statistics (core.corpus.stats) and the field's studies (core.corpus.field_studies), so every
statistic streams from the shards and none needs the corpus in memory."""
from __future__ import annotations

from pathlib import Path

from core.corpus.run import shard_files
from core.errors import DataError


def connect(memory_gib: float = 1.0, threads: int = 2):
    """A DuckDB connection capped at `memory_gib` (it spills to disk beyond)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_gib}GB'")
    con.execute(f"SET threads = {int(threads)}")
    return con


def quoted(text: str) -> str:
    """A SQL string literal of `text` (labels with apostrophes, file paths)."""
    return "'" + text.replace("'", "''") + "'"


def shard_list(run_dir: Path) -> str:
    """The run's shards as a DuckDB list literal (a view cannot take parameters)."""
    files = [str(p) for p in shard_files(run_dir)]
    if not files:
        raise DataError(f"{Path(run_dir).name}/ holds no routing shards: run `python -m core corpus` into it first.")
    return "[" + ", ".join(quoted(f) for f in files) + "]"


def create_rows_view(con, name: str, run_dir: Path) -> None:
    """View `name`: every row of the run's shards, as stored (docs/corpus.md, *Parquet layout*)."""
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({shard_list(run_dir)}, "
                "union_by_name = true)")


def has_column(con, view: str, column: str) -> bool:
    return column in {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()}
