"""Where the app keeps its records: SQLite files under the user's data directory."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

APP_NAME = "smart-portfolio-rebalancer"
_ENV = "REBALANCER_DATA_DIR"


def data_dir() -> Path:
    """The user's data directory for this app ($REBALANCER_DATA_DIR overrides), created on demand."""
    override = os.environ.get(_ENV)
    if override:
        path = Path(override)
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a SQLite database in WAL mode with full durability.

    WAL + ``synchronous=FULL`` means a committed transaction survives a crash and a process
    killed mid-transaction leaves the database as of the last commit.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn
