"""Pictures and reports: image grids (for notebooks), figures and the self-contained HTML report.

- :mod:`artrec.report.grids` -- :func:`similar_grid`, :func:`recommendation_grid`, thumbnails;
- :mod:`artrec.report.plots` -- explained variance and the 2-D catalogue map (matplotlib, Agg);
- :mod:`artrec.report.html` -- :func:`write_report`;
- :mod:`artrec.report.collect` -- :func:`collect_results` for any workspace.

Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["collect_results", "recommendation_grid", "similar_grid", "write_report"]


def __getattr__(name: str) -> Any:
    if name in ("similar_grid", "recommendation_grid"):
        from artrec.report import grids

        return getattr(grids, name)
    if name == "write_report":
        from artrec.report.html import write_report

        return write_report
    if name == "collect_results":
        from artrec.report.collect import collect_results

        return collect_results
    raise AttributeError(f"module 'artrec.report' has no attribute {name!r}")
