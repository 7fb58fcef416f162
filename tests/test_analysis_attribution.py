"""Attribution on a constructed frame with a planted cause."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.analysis.attribution import attribute, collapse_top_k, top_causes
from tributary_analysis.errors import DataError


def requests(seed: int = 0, n: int = 20000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "tenant_id": rng.choice([f"t{i}" for i in range(40)], size=n),
        "endpoint": rng.choice(["/search", "/insert", "/get"], p=[0.5, 0.3, 0.2], size=n),
        "dataset_id": rng.choice([f"ds{i}" for i in range(200)], size=n),
        "version": rng.choice(["1.4.2", "1.5.0"], size=n),
    })
    # planted cause: version 1.5.0 on /insert fails 30 %; background 1 %
    p = np.where((df.version == "1.5.0") & (df.endpoint == "/insert"), 0.3, 0.01)
    df["status_code"] = np.where(rng.random(n) < p, 500, 200)
    return df


def test_planted_cause_ranks_first_and_is_significant():
    df = requests()
    r = attribute(df, "status_code >= 500")
    assert r.iloc[0]["attribute"] in {"endpoint", "version"}
    causes = top_causes(r, 2)
    assert set(causes) == {"endpoint=/insert", "version=1.5.0"}
    # the selection's own column is excluded automatically when given as an expression
    assert "status_code" not in set(r["attribute"])
    # no tenant is significant: they were drawn independently of the failure
    assert not r[(r.attribute == "tenant_id") & r.significant].shape[0]
    row = r[(r.attribute == "endpoint") & (r.value == "/insert")].iloc[0]
    assert row["risk_ratio"] > 5 and row["q_value"] < 1e-10


def test_high_cardinality_collapses_to_top_k():
    df = requests()
    sel = (df.status_code >= 500).to_numpy()
    v = collapse_top_k(df["dataset_id"], sel, top_k=10)
    assert v.nunique() == 11 and "(other)" in set(v)


def test_bad_masks_are_named():
    df = requests(n=100)
    with pytest.raises(DataError, match="both the selection and the baseline"):
        attribute(df, df.status_code >= 0, df.status_code >= 0)
    with pytest.raises(DataError, match="selection has 0 row"):
        attribute(df, df.status_code > 999)
    with pytest.raises(DataError, match="not a valid expression"):
        attribute(df, "no_such_column > 1")
