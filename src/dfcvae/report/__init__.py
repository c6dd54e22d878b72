"""Figures, PNG grids, tables and the HTML report, built on results from ``dfcvae.analysis``."""

from dfcvae.report.build import build_report

__all__ = ["build_report"]
