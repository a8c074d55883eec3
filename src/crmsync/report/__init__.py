"""The unified forecast report: one forecast across every connection, in one base currency.

Build it with `build_report(store, config, period=resolve_period(...), filters=Filters(...))`, then render it
with `render_terminal(report, console)`, `to_json(report)`, `to_csv(report)` or `to_html(report)`.
Which deals count for a period, and how amounts are converted, is written down in `crmsync.report.figures`.
"""

from __future__ import annotations

from crmsync.report.build import build_report, report_from_dataset
from crmsync.report.export import to_csv, to_dict, to_json
from crmsync.report.html import to_html
from crmsync.report.model import Filters, Period, Report
from crmsync.report.period import resolve_period
from crmsync.report.terminal import render_terminal

__all__ = [
    "Filters",
    "Period",
    "Report",
    "build_report",
    "render_terminal",
    "report_from_dataset",
    "resolve_period",
    "to_csv",
    "to_dict",
    "to_html",
    "to_json",
]
