"""Long lists sent to SQLite a batch at a time, for ``IN (...)`` queries.

SQLite limits the host parameters of one statement (999 in builds before 3.32), so a query about
many photos is made once per batch of ``IN_BATCH`` of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

IN_BATCH = 500


def in_batches(items: Sequence) -> Iterator[tuple[list, str]]:
    """(batch, placeholders) pairs: at most ``IN_BATCH`` items each, and "?,?,..." to match."""
    items = list(items)
    for start in range(0, len(items), IN_BATCH):
        batch = items[start:start + IN_BATCH]
        yield batch, ",".join("?" * len(batch))
