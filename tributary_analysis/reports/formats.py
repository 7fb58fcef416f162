"""Output formats of a run (``report run --format html,pdf``) and their artefact writers.

``html`` is always written (every other format is made from the page). ``pdf`` prints the
page with headless Chromium through :func:`tributary_analysis.reports.pdf.html_to_pdf`; it
is offered once that module is installed, and asking for it without is refused before any
notebook runs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tributary_analysis.errors import ConfigError

if TYPE_CHECKING:
    from tributary_analysis.reports.publish import ArtifactWriter, PublishedRun

KNOWN = ("html", "pdf")
PDF_MODULE = "tributary_analysis.reports.pdf"


def parse_formats(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"html,pdf"`` → ``("html", "pdf")``; unknown names are refused, ``html`` implied.

    Examples
    --------
    >>> parse_formats("pdf"), parse_formats(None)
    (('html', 'pdf'), ('html',))
    """
    if value is None:
        items: list[str] = []
    elif isinstance(value, str):
        items = [v.strip().lower() for v in value.split(",") if v.strip()]
    else:
        items = [str(v).strip().lower() for v in value if str(v).strip()]
    unknown = [v for v in items if v not in KNOWN]
    if unknown:
        raise ConfigError(f"--format {','.join(items)}: unknown format(s) "
                          f"{', '.join(unknown)}; use {', '.join(KNOWN)} (comma-separated)")
    return tuple(dict.fromkeys(["html", *items]))


def pdf_available() -> bool:
    return importlib.util.find_spec(PDF_MODULE) is not None


@dataclass(frozen=True)
class PdfWriter:
    """``report.pdf`` beside ``report.html``, printed from the page."""

    kind: str = "pdf"
    filename: str = "report.pdf"

    def write(self, run: PublishedRun) -> Path:
        from tributary_analysis.reports.pdf import html_to_pdf  # type: ignore[import-not-found,unused-ignore]

        target = run.run_dir / self.filename
        html_to_pdf(run.html_path, target)
        return target


def writers_for(formats: Iterable[str]) -> list[ArtifactWriter]:
    """The artefact writers for ``formats`` (already parsed); refuses what is missing."""
    out: list[ArtifactWriter] = []
    for fmt in formats:
        if fmt == "pdf":
            if not pdf_available():
                raise ConfigError(f"--format pdf needs {PDF_MODULE} (PDF printing with "
                                  "headless Chromium), which is not installed; use --format "
                                  "html")
            from tributary_analysis.reports.pdf import (  # type: ignore[import-not-found,unused-ignore]
                ChromiumNotFound,
                find_chromium,
            )

            try:
                find_chromium()
            except ChromiumNotFound as exc:  # before any notebook runs, not after each
                raise ConfigError(f"--format pdf: {exc}") from None
            out.append(PdfWriter())
    return out
