"""How a server reads a generation's chunk and document rows when it opens it (index.store): in one SQLite step
each (a reload beside busy request threads otherwise waits for the GIL once per row), and exactly what a query
row by row gives: the same integers and texts in row order, and every mtime bit for bit."""

from __future__ import annotations

import math
import sqlite3

import numpy as np

from askdocs.index.store import _chunk_columns, _document_rows

MTIMES = [1733450000.1234567, math.nextafter(1733450000.0, 2e9), 0.0, 0.5, -0.25, -3.75, 1.0, 5e-324,
          2.0 ** 60 + 2.0 ** 8, 1e-7, 4102444800.999999, -1733450000.9876543, 0.1, 1.0000000000000002]


def _database() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE documents (row INTEGER PRIMARY KEY, doc_id TEXT, title TEXT, source TEXT, kind TEXT, "
               "mtime REAL NOT NULL, meta TEXT, sha256 TEXT)")
    db.execute("CREATE TABLE chunks (row INTEGER PRIMARY KEY, doc_row INTEGER, ordinal INTEGER, page INTEGER)")
    # Inserted out of row order, with texts JSON must escape.
    for row in reversed(range(len(MTIMES))):
        db.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (row, f"d{row}/\"quoted\"\n\u00e9\U0001f600", f"Title \\ {row}\t", f"/src/{row}.txt", "text",
                    MTIMES[row], '{"k": [1, 2]}', f"{row:064x}"))
    for row in reversed(range(500)):
        db.execute("INSERT INTO chunks VALUES (?, ?, ?, ?)", (row, row // 7, row % 7, None if row % 3 else 2 ** 40))
    return db


def test_document_rows_in_one_step_equal_a_row_by_row_read_mtimes_bit_for_bit():
    db = _database()
    expected = db.execute("SELECT doc_id, title, source, kind, mtime, meta, sha256 FROM documents ORDER BY row").fetchall()
    got = _document_rows(db)
    assert got == expected
    assert [m.hex() for m in (row[4] for row in got)] == [m.hex() for m in MTIMES]
    assert all(type(row[4]) is float for row in got)


def test_chunk_columns_in_one_step_equal_a_row_by_row_read():
    db = _database()
    columns = ["doc_row", "ordinal", "IFNULL(page, 0)"]
    expected = np.array(db.execute(f"SELECT {', '.join(columns)} FROM chunks ORDER BY row").fetchall(), dtype=np.int64)
    got = _chunk_columns(db, columns)
    assert got.dtype == np.int64 and np.array_equal(got, expected)
    db.execute("DELETE FROM chunks")
    assert _chunk_columns(db, columns).shape == (0, 3)
