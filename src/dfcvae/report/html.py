"""The HTML page: results already computed (files and numbers) laid out side by side.

Nothing here computes a metric; it formats what ``build_report`` was given. Images are embedded
as base64 data URIs, so the page is one self-contained file that opens offline.
"""

from __future__ import annotations

from html import escape

from dfcvae.report.markup import ReportData, describe_run
from dfcvae.report.sections import (
    configs_section,
    glance_section,
    image_sections,
    loss_section,
    metrics_section,
    predictions_section,
)

__all__ = ["ReportData", "render_report"]

CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 0 auto;
       max-width: 1400px; padding: 1rem 2rem; color: #1d1d1f; background: #fff; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 2px solid #e5e5ea; }
.sub { color: #6e6e73; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.92rem; }
th, td { padding: 0.3rem 0.7rem; border-bottom: 1px solid #e5e5ea; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f5f5f7; }
td.best { font-weight: 700; color: #0a7d2c; background: #eaf7ee; }
.side { display: grid; gap: 1rem; grid-template-columns: repeat(var(--runs), minmax(0, 1fr)); }
.side > div { min-width: 0; }
.side h3 { margin: 0.3rem 0; font-size: 1rem; }
img.grid { width: 100%; image-rendering: pixelated; border: 1px solid #e5e5ea; }
img.figure { max-width: 100%; border: 1px solid #e5e5ea; }
.caption { color: #6e6e73; font-size: 0.88rem; }
.missing { color: #a15c00; font-style: italic; font-size: 0.9rem; }
.findings li { margin: 0.25rem 0; }
pre { background: #f5f5f7; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
.significant { font-weight: 600; }
"""
# Marks <body> with how many images are on the page and how many failed to load.
IMAGE_CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !img.complete || img.naturalWidth === 0; });
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-broken-images", String(broken.length));
});
"""


def render_report(data: ReportData) -> str:
    """The whole page as one HTML string."""
    runs = ", ".join(f"{escape(n)} ({escape(describe_run(data.configs[n]))})" for n in data.names)
    settings = ", ".join(f"{escape(str(k))} = {escape(str(v))}" for k, v in data.settings.items())
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(data.title)}</title>"
        f"<style>{CSS}</style><script>{IMAGE_CHECK}</script></head><body>"
        f"<h1>{escape(data.title)}</h1><p class='sub'>{runs}</p>"
        f"<p class='caption'>{settings}</p>"
        + glance_section(data)
        + image_sections(data)
        + metrics_section(data)
        + predictions_section(data)
        + loss_section(data)
        + configs_section(data)
        + "</body></html>\n"
    )
