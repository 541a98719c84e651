"""``build_report(session)``: read the workspace's artifacts and write the report in every format.

Outputs in ``<workspace>/evaluation/``: ``report.md`` (figures in ``report_files/``), ``report.html``
(self-contained), ``report.pdf``, ``slides.pptx``; ``report_files/`` also holds the README's results block
and a ``manifest.json``. Nothing is loaded but artifacts, so this runs at any point of the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError
from ..manifest import git_commit, now, write_manifest
from ..store import write_bytes_atomic, write_text_atomic
from ..toy import fingerprint_of
from . import closing_sections as closing
from . import data_sections as data
from . import html, markdown, pdf, readme, slides, talk
from . import result_sections as results
from . import setup_sections as setup
from .discussion import discussion
from .document import Report
from .evidence import Evidence, read_evidence

if TYPE_CHECKING:
    from ..session import Session

FORMATS = ("md", "html", "pdf", "pptx")
FILES = {"md": "report.md", "html": "report.html", "pdf": "report.pdf", "pptx": "slides.pptx"}
TITLE = "Synthetic Instruction Tuner: technical report"


@dataclass
class ReportResult:
    report: Report
    evidence: Evidence
    paths: dict[str, Path] = field(default_factory=dict)  # format -> file written
    readme_block: str = ""


def assemble(session: Session, evidence: Evidence | None = None) -> Report:
    """The report as data, from whatever artifacts exist in the session's workspace."""
    ev = evidence or read_evidence(session.workspace.root, session.registry)
    world = ev.world or session.world_id
    toy = world.startswith("toy")
    commit = git_commit()
    built = fingerprint_of(world) if toy else None  # world id · CPU kernels · weights: same world, same numbers
    subtitle = (f"World `{built or world}` · profile {session.profile_name} · seed {session.seed} · generated {now()[:16]} UTC"
                + (f" · commit {commit[:10]}" if commit else ""))
    data_steps = [setup.with_settings(ev, make(ev), step, what) for make, step, what in (
        (data.magpie, "01 generation", "Generation"), (data.filtering, "02 filtering", "Filter"),
        (data.preference, "03 preference", "Preference"))]
    sections = [closing.abstract(ev, toy), data.overview(ev, toy), data.method(), *data_steps,
                results.training(ev), setup.real_setup(ev, toy), results.headline(ev),
                results.stage_comparison(ev), results.evaluation(ev), results.agent(ev), results.examples(ev),
                discussion(ev), closing.limitations(ev, toy), closing.conclusions(ev, toy), closing.references(ev),
                closing.appendix_results(ev), setup.appendix_settings(ev),
                closing.appendix_reproducibility(ev, session.seed, session.profile_name)]
    settings = session.profile.get("report") or {}
    return Report(TITLE, subtitle, world, toy, now(), sections, list(ev.sources),
                  author=str(settings.get("author") or ""), course=str(settings.get("course") or ""),
                  date=str(settings.get("date") or now()[:10]))


def build_report(session: Session, formats=None, *, update_readme: bool = False, verbose: bool = True) -> ReportResult:
    """Write the report files; ``formats`` defaults to the profile's ``report.formats``."""
    started = now()
    formats = list(formats or session.profile.get("report", {}).get("formats", FORMATS))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown report format(s) {unknown} (known: {', '.join(FORMATS)})")
    ev = read_evidence(session.workspace.root, session.registry)
    report = assemble(session, ev)
    folder = session.workspace.evaluation_dir
    assets = folder / markdown.ASSETS
    result = ReportResult(report, ev)
    renderers = {"md": lambda: markdown.render(report), "html": lambda: html.render(report),
                 "pdf": lambda: pdf.render(report), "pptx": lambda: slides.render(report, talk.deck(report, ev, session.registry))}
    if "md" in formats:
        _write_figures(assets, report)
    for fmt in formats:
        content = renderers[fmt]()
        path = folder / FILES[fmt]
        if isinstance(content, str):
            write_text_atomic(path, content)
        else:
            write_bytes_atomic(path, content)
        result.paths[fmt] = path
    built = fingerprint_of(report.world) if report.toy else None
    made = [m for m in ev.manifests().values() if m.get("git_commit")]  # the code that made the numbers
    commit = max(made, key=lambda m: m.get("finished_at") or "")["git_commit"] if made else git_commit()
    run = readme.run_identity(report.world, report.generated_at, session.profile_name, session.seed, commit,
                              str(built) if built else None)
    result.readme_block = readme.results_markdown(ev, report.world, report.generated_at, report.toy, run)
    write_text_atomic(assets / "readme_results.md", result.readme_block + "\n")
    if update_readme:
        from ..workspace import find_repo_root

        root = find_repo_root()
        if root is None:
            raise ConfigError("--update-readme needs a checkout of the repository (README.md not found)")
        result.paths["readme"] = readme.update_readme(root / "README.md", result.readme_block)
    ran = [s.key for s in report.sections if s.ran]
    write_manifest(assets, phase="report", profile=session.profile_name, config={"formats": formats},
                   seed=session.seed, started_at=started,
                   counts={"sections": len(report.sections), "sections_with_results": len(ran),
                           "figures": len(report.figures)},
                   extra={"world": report.world, "sources": report.sources, "not_run_yet":
                          [s.key for s in report.sections if not s.ran]})
    if verbose:
        print(f"report ({report.world}): {len(ran)}/{len(report.sections)} sections with results -> "
              + ", ".join(str(p) for p in result.paths.values()))
    return result


def _write_figures(assets: Path, report: Report) -> None:
    names = {f"{f.name}.png" for f in report.figures}
    for figure in report.figures:
        write_bytes_atomic(assets / f"{figure.name}.png", figure.png)
    for stale in assets.glob("*.png"):  # figures of steps whose artifacts are gone
        if stale.name not in names:
            stale.unlink()
