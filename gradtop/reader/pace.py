"""How much to read at once and how often to look: one set of numbers for every loop.

``gradtop check`` (one-shot and ``--follow``), ``gradtop watch`` and the demo all read
through these, so a change here changes them together.
"""

from __future__ import annotations

# Bytes per ``FileReader.read()`` call. Few records alive at once is faster: 1 MiB batches
# ingest ~25% faster than 16 MiB ones (benchmarks/ingest.py, docs/performance.md), and a
# bounded read keeps a UI worker responsive while it back-fills a large file.
READ_BYTES = 1 << 20
# Bytes per ``pread`` inside a source: one system call's worth, independent of the above.
CHUNK_BYTES = 1 << 20
# Seconds between looks at a file when no event arrives (events are only hints).
TICK = 0.5
