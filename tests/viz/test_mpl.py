"""matplotlib figures: structure (titles, axis labels with units, log scale, ordering, the
"other" bucket) and the caller's global settings left untouched."""

from __future__ import annotations

import copy
import sys

import matplotlib as mpl
import polars as pl
import pytest
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from toolkit.viz import mpl as vm


@pytest.fixture
def rc_guard():
    before = copy.deepcopy(dict(mpl.rcParams))
    yield
    after = dict(mpl.rcParams)
    changed = {k for k in before if before[k] != after[k]}
    assert not changed, f"rcParams changed: {sorted(changed)}"


def test_heatmap_structure(rc_guard, wl_svc: pl.DataFrame) -> None:
    fig = vm.heatmap(wl_svc, top_n=3)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Bytes from workload to service"
    assert ax.get_xlabel() == "destination namespace / service"
    assert ax.get_ylabel() == "source namespace / workload"
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["b/b1", "a/a1", "[public]", "other (3)"]
    image = ax.images[0]
    assert isinstance(image.norm, LogNorm)
    bar = fig.axes[1]
    assert bar.get_ylabel() == "bytes (log scale)"


def test_heatmap_without_traffic_says_so(rc_guard, wl_svc: pl.DataFrame) -> None:
    frame = wl_svc.head(0)
    fig = vm.heatmap(frame)
    assert "no traffic" in [t.get_text() for t in fig.axes[0].texts]


def test_graph_structure(rc_guard, wl_svc: pl.DataFrame) -> None:
    fig = vm.segment_graph(wl_svc)
    ax = fig.axes[0]
    assert ax.get_title(loc="left").startswith("Segments and the traffic crossing them")
    assert "bytes" in ax.get_xlabel()
    arrows = [a for a in ax.texts if a.arrow_patch is not None]
    assert len(arrows) == 3  # a→b, b→a, [public]→a
    names = {t.get_text().split("\n")[0] for t in ax.texts if t.arrow_patch is None}
    assert names == {"a", "b", "[public]"}


def test_timeseries_structure(rc_guard, bucketed: pl.DataFrame) -> None:
    fig = vm.timeseries(bucketed, cross_only=True)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "bytes per bucket"
    assert ax.get_xlabel() == "time bucket start (UTC)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["a → b", "c → b"]


def test_no_pyplot_state(rc_guard, wl_svc: pl.DataFrame) -> None:
    vm.heatmap(wl_svc)
    if "matplotlib.pyplot" in sys.modules:  # another test may have imported it
        import matplotlib.pyplot as plt
        assert plt.get_fignums() == []


def test_figures_save_to_png(tmp_path, rc_guard, wl_svc: pl.DataFrame) -> None:
    path = tmp_path / "heatmap.png"
    vm.heatmap(wl_svc).savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
