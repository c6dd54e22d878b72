"""Figures, PNG grids, tables and the HTML report, drawn from results of ``dfcvae.analysis``."""

from dfcvae.report.build import build_report, default_results_dir, store_dir

__all__ = ["build_report", "default_results_dir", "store_dir"]
