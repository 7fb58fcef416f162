"""Write families as OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``.

Formatting per sample in Python is far too slow for tens of millions of samples, so each block
becomes a pyarrow table (series prefix as a dictionary column, value, timestamp) written by
``pyarrow.csv.write_csv`` with a space delimiter and no quoting. pyarrow refuses to write '"'
unquoted, so label quotes are carried as ``\\x01`` and swapped back in the output bytes.
Timestamps are unix seconds. Families are assigned whole to part files, balanced by sample
count, and the parts are written in parallel threads (pyarrow releases the GIL).
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tributary_analysis.demo.aggregate import Block, FamilyData, Q

_OPTS = pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
#: samples per write_csv call: bounds memory to a few hundred MB per thread
CHUNK_SAMPLES = 2_000_000


def assign_parts(families: list[FamilyData], n_parts: int) -> list[list[FamilyData]]:
    """Greedy largest-first assignment of whole families to ``n_parts`` files."""
    parts: list[list[FamilyData]] = [[] for _ in range(n_parts)]
    load = [0] * n_parts
    for fam in sorted(families, key=lambda f: -f.n_samples):
        j = int(np.argmin(load))
        parts[j].append(fam)
        load[j] += fam.n_samples
    return parts


def _write_block(out: io.BufferedWriter, block: Block, times: np.ndarray) -> None:
    s_idx, k_idx = np.nonzero(block.mask)  # row-major: each series contiguous, time ascending
    if s_idx.size == 0:
        return
    values = block.values[s_idx, k_idx]
    if block.integer:
        values = np.round(values).astype(np.int64)
    elif block.decimals is not None:
        values = np.round(values, block.decimals)
    stamps = times[k_idx]
    names = pa.array([f"{block.sample}{{{lab}}}" for lab in block.labels], pa.string())
    for lo in range(0, s_idx.size, CHUNK_SAMPLES):
        hi = min(lo + CHUNK_SAMPLES, s_idx.size)
        prefix = pa.DictionaryArray.from_arrays(pa.array(s_idx[lo:hi].astype(np.int32)), names)
        table = pa.table({"p": prefix, "v": values[lo:hi], "t": stamps[lo:hi]})
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, write_options=_OPTS)
        out.write(buf.getvalue().replace(Q.encode(), b'"'))


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
        What to write; each family lands whole in one file.
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
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        list(pool.map(_write_part, paths, parts, [times] * len(parts)))
    return paths
