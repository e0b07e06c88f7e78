"""The benchmarks' own PostgreSQL databases: one place that creates, recreates or drops them.

Each benchmark works on databases of its own (never anyone's data), named by the script; some
start from empty databases every run, some keep a loaded one between runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import psycopg2
from psycopg2 import sql


def provision_databases(
    pg_url: str,
    names: Iterable[str],
    *,
    mode: Literal["recreate", "ensure", "drop"] = "recreate",
) -> None:
    """``recreate``: drop (closing its connections) and create each; ``ensure``: create the
    missing ones and keep what the others hold; ``drop``: drop each.

    ``pg_url``: postgres://user:password@host:port, without a database name.
    """
    connection = psycopg2.connect(f"{pg_url.rstrip('/')}/postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for name in names:
                database = sql.Identifier(name)
                if mode == "ensure":
                    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
                    if cursor.fetchone():
                        continue
                else:
                    cursor.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database)
                    )
                if mode != "drop":
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(database))
    finally:
        connection.close()
