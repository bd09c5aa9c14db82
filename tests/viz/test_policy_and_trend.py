"""Allowed-versus-observed overlay and the snapshot-series trend view."""

from __future__ import annotations

from datetime import UTC, datetime

import matplotlib as mpl
import polars as pl
import pytest

from toolkit.viz import interactive as vi
from toolkit.viz import mpl as vm
from toolkit.viz.data_policy import EXPOSURE_STATUSES, exposure_data
from toolkit.viz.data_time import trend_data


def paths() -> pl.DataFrame:
    rows = [("a/web[Deployment]", "b/api[Deployment]", "used, allowed", 10, 0, 500),
            ("a/web[Deployment]", "b/db[StatefulSet]", "allowed, unused", 0, 0, 0),
            ("c/job[Job]", "b/api[Deployment]", "used, denied", 0, 4, 90),
            ("c/job[Job]", "[external]", "used, allowed", 2, 0, 40),
            ("b/api[Deployment]", "b/db[StatefulSet]", "used, partly denied", 5, 1, 800)]
    return pl.DataFrame({"src": [r[0] for r in rows], "dst": [r[1] for r in rows],
                         "status": [r[2] for r in rows], "allowed_conn": ["TCP 80"] * 5,
                         "flows_allowed": [r[3] for r in rows],
                         "flows_denied": [r[4] for r in rows],
                         "flows_unresolved": [0] * 5, "bytes": [r[5] for r in rows]})


def test_exposure_grid_codes_and_blocks() -> None:
    data = exposure_data(paths())
    labels = data.rows.labels
    assert labels == data.cols.labels  # one shared order
    code = {s: i + 1 for i, s in enumerate(EXPOSURE_STATUSES)}

    def cell(a: str, b: str) -> int:
        return int(data.codes[labels.index(a), labels.index(b)])

    assert cell("c/job[Job]", "b/api[Deployment]") == code["used, denied"]
    assert cell("a/web[Deployment]", "b/db[StatefulSet]") == code["allowed, unused"]
    assert cell("b/db[StatefulSet]", "a/web[Deployment]") == 0  # neither allowed nor used
    groups = data.rows.groups
    assert groups[labels.index("b/api[Deployment]")] == "b"
    assert groups[labels.index("[external]")] == "[external]"


def test_exposure_other_keeps_the_worst_status() -> None:
    data = exposure_data(paths(), top_n=2)
    assert data.rows.labels[-1].startswith("other (")
    assert data.codes.max() == len(EXPOSURE_STATUSES)  # the denied path survives in "other"


def test_exposure_figures() -> None:
    fig = vi.exposure(paths())
    trace = fig.data[0]
    assert trace.type == "heatmap"
    assert list(trace.colorbar.ticktext) == list(EXPOSURE_STATUSES)
    assert fig.layout.xaxis.title.text == "server workload"
    before = dict(mpl.rcParams)
    figure = vm.exposure(paths())
    assert dict(mpl.rcParams) == before
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == list(EXPOSURE_STATUSES)


def summary() -> pl.DataFrame:
    return pl.DataFrame({
        "cluster": ["c", "c", "c"],
        "captured_at": [datetime(2026, 3, d, tzinfo=UTC) for d in (5, 3, 4)],
        "bytes": [3, 1, 2], "cross_ns_bytes_share": [50.0, 58.0, 57.0], "pods": [9, 7, 8]})


def test_trend_data_orders_by_time_and_picks_present_columns() -> None:
    data = trend_data(summary())
    assert data.times == sorted(data.times)
    assert list(data.series) == ["bytes", "cross_ns_bytes_share", "pods"]
    assert data.series["pods"] == [7.0, 8.0, 9.0]
    with pytest.raises(ValueError, match="no columns"):
        trend_data(summary(), ["nope"])


def test_trend_figures() -> None:
    fig = vm.trend(summary())
    assert len(fig.axes) == 3
    assert [a.get_ylabel() for a in fig.axes] == ["bytes", "percent", "count"]
    assert fig.axes[-1].get_xlabel() == "captured at (UTC)"
    pfig = vi.trend(summary(), ["pods"])
    assert [t.type for t in pfig.data] == ["scatter"]
    assert pfig.layout.yaxis.title.text == "count"
