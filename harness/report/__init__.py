"""Reports: a Summary → report.html (people), junit.xml (CI) and summary.md (PR comments).

``render_report(run_dir)`` re-renders any run from its summary.json (analysing the run first
when that file is missing), so reports never need the raw data twice.
"""

from harness.report.compare import Comparison, MetricDelta, compare_summaries
from harness.report.render import render_report

__all__ = ["Comparison", "MetricDelta", "compare_summaries", "render_report"]
