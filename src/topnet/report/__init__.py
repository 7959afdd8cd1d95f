"""Run directories and reports."""
from topnet.report.run_dir import RunDir

__all__ = ["RunDir"]
