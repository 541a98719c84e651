"""The technical report (Markdown, self-contained HTML, PDF) and the slide deck, from the artifacts alone.

    result = build_report(session)          # evaluation/report.{md,html,pdf}, evaluation/slides.pptx
    result.report.section("filtering")      # the report as data

Every section says "not run yet" when its step's artifacts are missing, so the report is useful at any
point of the pipeline.
"""

from .build import FORMATS, ReportResult, assemble, build_report
from .evidence import Evidence, read_evidence

__all__ = ["FORMATS", "Evidence", "ReportResult", "assemble", "build_report", "read_evidence"]
