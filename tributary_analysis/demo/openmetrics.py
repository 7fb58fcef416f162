"""Write families as OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``.

Formatting per sample in Python is far too slow for tens of millions of samples, so each block
becomes a pyarrow table (series prefix as a dictionary column, value, timestamp) written by
``pyarrow.csv.write_csv`` with a space delimiter and no quoting. pyarrow refuses to write '"'
unquoted, so label quotes are carried as ``\\x01`` and swapped back in the output bytes.
Timestamps are unix seconds. Families are assigned to part files, balanced by sample count:
whole, unless a family alone holds more than a part's share of the samples — then its series
are split over several parts (each with the family's ``# TYPE``/``# HELP``; promtool turns
each part into its own blocks and Prometheus merges the overlapping blocks), which bounds
promtool's memory per part. The parts are written in parallel threads (pyarrow releases
the GIL).
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tributary_analysis.demo.aggregate import Block, FamilyData, Q

_OPTS = pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
#: samples per write_csv call: bounds memory to a few hundred MB per thread
CHUNK_SAMPLES = 2_000_000
#: part files written at once (each thread holds one chunk; the machine has two cores)
MAX_WRITERS = 4


def split_family(fam: FamilyData, pieces: int) -> list[FamilyData]:
    """``fam`` cut into about ``pieces`` families of whole series (rows), in order."""
    sizes = [len(b.labels) for b in fam.blocks]
    weight = np.concatenate([b.mask.sum(axis=1) for b in fam.blocks])
    cum = np.cumsum(weight)
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, pieces) / pieces, side="right")
    starts = np.concatenate([[0], np.cumsum(sizes)])  # first global row of each block
    out = []
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), int(starts[-1])], strict=True):
        blocks = []
        for bi, b in enumerate(fam.blocks):
            r0, r1 = max(lo - int(starts[bi]), 0), min(hi - int(starts[bi]), sizes[bi])
            if r1 > r0:
                blocks.append(replace(b, labels=b.labels[r0:r1], values=b.values[r0:r1],
                                      mask=b.mask[r0:r1]))
        if blocks:
            out.append(replace(fam, blocks=blocks))
    return out


def assign_parts(families: list[FamilyData], n_parts: int) -> list[list[FamilyData]]:
    """Greedy largest-first assignment of families to ``n_parts`` files; a family larger
    than a part's share (total / ``n_parts``) is first split by series."""
    target = sum(f.n_samples for f in families) / n_parts
    pieces: list[FamilyData] = []
    for fam in families:
        n = int(np.ceil(fam.n_samples / target)) if target else 1
        pieces += split_family(fam, n) if n > 1 else [fam]
    parts: list[list[FamilyData]] = [[] for _ in range(n_parts)]
    load = [0] * n_parts
    for fam in sorted(pieces, key=lambda f: -f.n_samples):
        j = int(np.argmin(load))
        parts[j].append(fam)
        load[j] += fam.n_samples
    return parts


def _write_block(out: io.BufferedWriter, block: Block, times: np.ndarray) -> None:
    """Write one block's samples, each series contiguous and in time order.

    Rows are taken a slice at a time (about :data:`CHUNK_SAMPLES` samples), so the index and
    value arrays of a block holding tens of millions of samples never exist at once.
    """
    if not block.labels:
        return
    names = pa.array([f"{block.sample}{{{lab}}}" for lab in block.labels], pa.string())
    per_row = block.mask.sum(axis=1)
    cum = np.cumsum(per_row)
    r0 = 0
    while r0 < len(block.labels):
        base = cum[r0 - 1] if r0 else 0
        r1 = int(np.searchsorted(cum, base + CHUNK_SAMPLES, side="right"))
        r1 = min(max(r1, r0 + 1), len(block.labels))
        s_idx, k_idx = np.nonzero(block.mask[r0:r1])  # row-major: series, then time
        if s_idx.size:
            values = block.values[r0:r1][s_idx, k_idx]
            if block.integer:
                values = np.round(values).astype(np.int64)
            elif block.decimals is not None:
                values = np.round(values, block.decimals)
            prefix = pa.DictionaryArray.from_arrays(pa.array((s_idx + r0).astype(np.int32)),
                                                    names)
            table = pa.table({"p": prefix, "v": values, "t": times[k_idx]})
            buf = io.BytesIO()
            pacsv.write_csv(table, buf, write_options=_OPTS)
            out.write(buf.getvalue().replace(Q.encode(), b'"'))
        r0 = r1


def _write_part(path: Path, families: list[FamilyData], times: np.ndarray) -> None:
    with path.open("wb") as out:
        for fam in families:
            out.write(f"# TYPE {fam.name} {fam.type}\n# HELP {fam.name} {fam.help}\n".encode())
            for block in fam.blocks:
                _write_block(out, block, times)
        out.write(b"# EOF\n")


def write_openmetrics(families: list[FamilyData], times: np.ndarray, out_dir: Path,
                      n_parts: int = 2) -> list[Path]:
    """Write ``metrics/part-NNN.om`` files; returns their paths.

    Parameters
    ----------
    families : list of FamilyData
        What to write (see :func:`assign_parts`).
    times : numpy.ndarray
        Unix seconds of the scrape grid (the blocks' column positions).
    out_dir : Path
        The ``metrics`` directory (created).
    n_parts : int
        Number of files (>= 2 so promtool can use both cores).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = assign_parts(families, max(n_parts, 2))
    paths = [out_dir / f"part-{j:03d}.om" for j in range(len(parts))]
    with ThreadPoolExecutor(max_workers=min(len(parts), MAX_WRITERS)) as pool:
        list(pool.map(_write_part, paths, parts, [times] * len(parts)))
    return paths
