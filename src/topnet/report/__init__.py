"""Run directories and reports: what a run leaves behind, and the page that shows it."""
from topnet.report.html import build_report, render_report
from topnet.report.run_dir import RunDir
from topnet.report.schema import RunData, read_run, redact, redact_url

__all__ = ["RunDir", "RunData", "read_run", "build_report", "render_report", "redact", "redact_url"]
