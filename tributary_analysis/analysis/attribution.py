"""What is different about the bad requests?

Given request-level rows (logs or the simulator's truth), a *selection* (errors, slow
requests, an incident window) and a *baseline* (by default: every other row), rank each
``attribute=value`` by how over-represented it is in the selection.

For each value ``v`` of attribute ``a`` a 2×2 table is formed::

                  a == v     a != v
    selection       s1         s0
    baseline        b1         b0

and reported with

* ``support``      = s1 / S: share of the selection that has the value;
* ``baseline_share`` = b1 / B;
* ``risk_ratio``   = P(selected | a == v) / P(selected | a != v);
* ``p_value``      from Fisher's exact test (one-sided, over-representation) — exact at
  any count, and fast for the table sizes seen here (scipy);
* ``q_value``      Benjamini–Hochberg false-discovery-rate adjustment over every tested
  value of every attribute (statsmodels ``multipletests``).

Ranking: significant rows first (``q_value < alpha`` and ``support >= min_support``), then
by *excess share* ``support - baseline_share`` — the share of the selection explained
beyond what the baseline would predict. Excess share favours a cause that covers most of
the bad requests over a rare value with a huge ratio; the risk ratio is still shown.

High-cardinality attributes (tenants, datasets) keep their ``top_k`` values by selection
count; the rest collapse into ``"(other)"`` so that thousands of tiny tests do not drown
the signal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact
from statsmodels.stats.multitest import multipletests

from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import carry

DEFAULT_ATTRIBUTES: tuple[str, ...] = (
    "tenant_id", "endpoint", "dataset_id", "search_type", "status_code", "version",
)
OTHER = "(other)"
MISSING = "(none)"


def _mask(df: pd.DataFrame, sel: pd.Series | np.ndarray | str, name: str) -> np.ndarray:
    if isinstance(sel, str):
        try:
            m = df.eval(sel)
        except Exception as exc:  # pandas raises many types for a bad expression
            raise DataError(f"{name}={sel!r} is not a valid expression over the frame's "
                            f"columns ({', '.join(map(str, df.columns))}): {exc}") from exc
        arr = np.asarray(m, dtype=bool)
    else:
        arr = np.asarray(sel)
        if arr.dtype != bool:
            raise DataError(f"{name} must be a boolean mask, got dtype {arr.dtype}")
    if arr.shape != (len(df),):
        raise DataError(f"{name} has {arr.shape[0] if arr.ndim else 0} entries but the frame "
                        f"has {len(df)} rows; build it from the same frame")
    return arr


def collapse_top_k(values: pd.Series, selected: np.ndarray, top_k: int) -> pd.Series:
    """Keep the ``top_k`` values most frequent in the selection; the rest become ``(other)``.

    Missing values become ``(none)`` (a missing dataset is a fact worth testing too).
    """
    v = values.astype("string").fillna(MISSING)
    if v.nunique() <= top_k + 1:
        return v
    counts = v[selected].value_counts()
    keep = set(counts.index[:top_k])
    if len(keep) < top_k:  # fill from the overall frequency so the baseline has names too
        for name in v.value_counts().index:
            if len(keep) >= top_k:
                break
            keep.add(name)
    return v.where(v.isin(keep), OTHER)


def attribute(
    df: pd.DataFrame,
    selection: pd.Series | np.ndarray | str,
    baseline: pd.Series | np.ndarray | str | None = None,
    *,
    attributes: Sequence[str] | None = None,
    top_k: int = 15,
    alpha: float = 0.01,
    min_support: float = 0.05,
    include_missing: bool = False,
) -> pd.DataFrame:
    """Rank attribute values by over-representation in ``selection`` against ``baseline``.

    Parameters
    ----------
    df : DataFrame
        One row per request (a log frame, or the simulator's truth).
    selection : boolean mask or query string
        The bad requests, e.g. ``df.status_code >= 500`` or ``"duration_s > 1"``.
    baseline : boolean mask or query string, optional
        The comparison rows; default every row not selected. Rows in both are an error.
    attributes : sequence of str, optional
        Columns to test; default the ones of :data:`DEFAULT_ATTRIBUTES` that exist, minus
        any column named in a string ``selection``/``baseline`` (it would trivially win).
    top_k : int
        Values kept per attribute before collapsing into ``(other)``.
    alpha : float
        False-discovery rate for the ``significant`` flag.
    min_support : float
        Smallest share of the selection a value must cover to be called significant.
    include_missing : bool
        Also test "value missing" (``(none)``). Off by default: missingness is often a
        consequence of the selection (a failed search records no search type), not a cause.

    Returns
    -------
    DataFrame
        ``attribute``, ``value``, ``selected``, ``baseline``, ``support``,
        ``baseline_share``, ``excess``, ``risk_ratio``, ``p_value``, ``q_value``,
        ``significant``, ranked (``rank`` column, 1 = most over-represented).

    Examples
    --------
    >>> d = pd.DataFrame({"endpoint": ["/a"] * 50 + ["/b"] * 50,
    ...                   "bad": [True] * 20 + [False] * 30 + [False] * 50})
    >>> attribute(d, d["bad"], attributes=["endpoint"]).iloc[0][["attribute", "value"]].tolist()
    ['endpoint', '/a']
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"attribute() needs a DataFrame, got {type(df).__name__}")
    sel = _mask(df, selection, "selection")
    base = ~sel if baseline is None else _mask(df, baseline, "baseline")
    overlap = int((sel & base).sum())
    if overlap:
        raise DataError(f"{overlap} row(s) are in both the selection and the baseline; "
                        "make the baseline exclude the selection")
    if attributes is None:
        # a column that defines the selection is trivially "over-represented": leave it out
        used = {c for expr in (selection, baseline) if isinstance(expr, str)
                for c in df.columns if re.search(rf"\b{re.escape(str(c))}\b", expr)}
        attributes = [a for a in DEFAULT_ATTRIBUTES if a in df.columns and a not in used]
    missing = [a for a in attributes if a not in df.columns]
    if missing:
        raise DataError(f"attribute column(s) {', '.join(missing)} not in the frame; "
                        f"available: {', '.join(map(str, df.columns))}")
    n_sel, n_base = int(sel.sum()), int(base.sum())
    if n_sel == 0 or n_base == 0:
        raise DataError(f"the selection has {n_sel} row(s) and the baseline {n_base}; both "
                        "need rows — widen the window or loosen the selection")
    keep = sel | base
    rows: list[dict[str, object]] = []
    for a in attributes:
        vals = collapse_top_k(df[a], sel, top_k)[keep]
        s_in = sel[keep]
        table = pd.crosstab(vals, s_in)
        s_counts = table.get(True, pd.Series(0, index=table.index))
        b_counts = table.get(False, pd.Series(0, index=table.index))
        for value in table.index:
            s1, b1 = int(s_counts[value]), int(b_counts[value])
            s0, b0 = n_sel - s1, n_base - b1
            _, p = fisher_exact([[s1, s0], [b1, b0]], alternative="greater")
            if value == MISSING and not include_missing:
                continue
            p_in = s1 / (s1 + b1) if s1 + b1 else np.nan
            p_out = s0 / (s0 + b0) if s0 + b0 else np.nan
            # no rows without the value: nothing to compare against (a constant attribute)
            rr = np.nan if s0 + b0 == 0 else (p_in / p_out if p_out > 0 else np.inf)
            rows.append({"attribute": a, "value": str(value), "selected": s1, "baseline": b1,
                         "support": s1 / n_sel, "baseline_share": b1 / n_base,
                         "risk_ratio": rr, "p_value": float(p)})
    out = pd.DataFrame(rows, columns=["attribute", "value", "selected", "baseline",
                                      "support", "baseline_share", "risk_ratio", "p_value"])
    if out.empty:
        raise DataError("no attribute values to test; pass attributes= with columns that exist")
    out["excess"] = out["support"] - out["baseline_share"]
    out["q_value"] = multipletests(out["p_value"].to_numpy(), method="fdr_bh")[1]
    out["significant"] = (out["q_value"] < alpha) & (out["support"] >= min_support) \
        & (out["excess"] > 0)
    out = out.sort_values(["significant", "excess", "risk_ratio"],
                          ascending=[False, False, False], kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    cols = ["rank", "attribute", "value", "selected", "baseline", "support", "baseline_share",
            "excess", "risk_ratio", "p_value", "q_value", "significant"]
    out = carry(out[cols], df)
    out.attrs.update(selected=n_sel, baseline_rows=n_base, alpha=alpha)
    return out


def slow_mask(df: pd.DataFrame, *, by: Sequence[str] = ("endpoint", "search_type"),
              q: float = 0.95, reference: pd.Series | np.ndarray | None = None,
              duration: str = "duration_s") -> np.ndarray:
    """Requests slower than the ``q`` quantile *of their own kind* (``by`` groups).

    "Slow" in absolute terms mostly selects inherently slow operations (bulk inserts,
    hybrid searches), which hides the cause of a regression; slow relative to peers does
    not. Quantiles come from the ``reference`` rows (e.g. a window before a deploy),
    default all rows; groups absent from the reference are never selected.
    """
    need = [duration, *by]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(f"slow_mask needs column(s) {', '.join(missing)}")
    if not 0 < q < 1:
        raise DataError(f"q={q!r} must be strictly between 0 and 1")
    keys = [df[b].astype("string").fillna(MISSING) for b in by]
    ref = np.ones(len(df), bool) if reference is None else _mask(df, reference, "reference")
    frame = pd.DataFrame({f"k{i}": k.to_numpy() for i, k in enumerate(keys)})
    frame["d"] = df[duration].to_numpy(dtype=float)
    cols = [f"k{i}" for i in range(len(keys))]
    thr = frame[ref].groupby(cols, dropna=False)["d"].quantile(q).rename("thr")
    joined = frame.join(thr, on=cols) if cols else frame.assign(thr=frame["d"][ref].quantile(q))
    return (joined["d"] > joined["thr"]).fillna(False).to_numpy(dtype=bool)


def top_causes(ranking: pd.DataFrame, n: int = 3) -> list[str]:
    """The first ``n`` significant ``attribute=value`` strings (for summaries and tests)."""
    sig = ranking[ranking["significant"]]
    return [f"{a}={v}" for a, v in zip(sig["attribute"].head(n), sig["value"].head(n),
                                      strict=True)]


def with_version(requests: pd.DataFrame, info: pd.DataFrame, *, time_col: str = "timestamp",
                 label: str = "version") -> pd.DataFrame:
    """Add a ``version`` column to request rows from ``deeplake_api_info`` samples.

    Logs do not say which version served a request; the info metric does, per scrape. Each
    request gets the fleet's version (:func:`~tributary_analysis.analysis.latency.
    fleet_version`) at the last sample at or before it; requests before the first sample
    get the first known version.
    """
    from tributary_analysis.analysis.latency import fleet_version

    if time_col not in requests.columns:
        raise DataError(f"request frame has no {time_col!r} column")
    major = fleet_version(info, label).rename("version").reset_index()
    major = major.rename(columns={"timestamp": "_t"})
    major["_t"] = pd.to_datetime(major["_t"], utc=True).astype("datetime64[ns, UTC]")
    left = requests.assign(_t=pd.to_datetime(requests[time_col], utc=True).astype(
        "datetime64[ns, UTC]"), _order=np.arange(len(requests)))
    if "version" in left.columns:
        left = left.drop(columns="version")
    merged = pd.merge_asof(left.sort_values("_t"), major.sort_values("_t"), on="_t",
                           direction="backward")
    if len(major):
        merged["version"] = merged["version"].fillna(major["version"].iloc[0])
    merged = merged.sort_values("_order").drop(columns=["_t", "_order"])
    merged.index = requests.index
    return carry(merged, requests)
