"""The unified forecast report: one forecast across every connection, in one base currency.

Build it with `build_report(store, config, period=..., filters=...)`, then render it with
`render_terminal`, `to_json`, `to_csv` or `to_html`.
"""

from __future__ import annotations

from crmsync.report.build import build_report, report_from_dataset
from crmsync.report.model import Filters, Period, Report
from crmsync.report.period import resolve_period

__all__ = ["Filters", "Period", "Report", "build_report", "report_from_dataset", "resolve_period"]
