"""Figures and the HTML report: the only package that imports matplotlib or plotly.

- :mod:`toolkit.viz.data` (+ ``data_time``, ``data_policy``) — pure figure data: ordering so
  segments form blocks, top-N + "other", labels, log colour values;
- :mod:`toolkit.viz.mpl` — static matplotlib figures (``Figure`` objects; the caller's
  global settings are left as they were);
- :mod:`toolkit.viz.interactive` — plotly figures with hover text;
- :mod:`toolkit.viz.report` — the self-contained HTML report (:func:`write_report`).

Every view takes a result of the core (a flow matrix, a boundary proposal, a policy exposure,
a batch summary) or its polars frame and returns a figure; nothing is shown or saved behind
your back. The top-level names are the static (matplotlib) views; ``viz.interactive`` has the
same names as plotly figures.

>>> import toolkit as kt, toolkit.viz as viz
>>> from toolkit.core import flow_matrix
>>> snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")
>>> fig = viz.heatmap(flow_matrix(snap, src="workload", dst="service"))
>>> type(fig).__name__
'Figure'
"""

from __future__ import annotations

from toolkit.viz import interactive, mpl
from toolkit.viz._sections import best_candidate, namespace_overview
from toolkit.viz.data import (
    GraphData,
    HeatmapData,
    SankeyData,
    heatmap_data,
    sankey_data,
    segment_graph_data,
    segments_from_membership,
)
from toolkit.viz.data_policy import ExposureData, exposure_data
from toolkit.viz.data_time import SeriesData, TrendData, series_data, trend_data
from toolkit.viz.mpl import exposure, heatmap, segment_graph, timeseries, trend
from toolkit.viz.report import report_html, write_report

sankey = interactive.sankey

__all__ = [
    "ExposureData",
    "GraphData",
    "HeatmapData",
    "SankeyData",
    "SeriesData",
    "TrendData",
    "best_candidate",
    "exposure",
    "exposure_data",
    "heatmap",
    "heatmap_data",
    "interactive",
    "mpl",
    "namespace_overview",
    "report_html",
    "sankey",
    "sankey_data",
    "segment_graph",
    "segment_graph_data",
    "segments_from_membership",
    "series_data",
    "timeseries",
    "trend",
    "trend_data",
    "write_report",
]
