"""Figures, PNG grids, tables and the HTML report, drawn from results of ``dfcvae.analysis``."""

from dfcvae.report.build import build_report, default_results_dir
from dfcvae.report.results_dir import read_results

__all__ = ["build_report", "default_results_dir", "read_results"]
