"""`sit report`: the report in four formats, opened with real readers (pypdf, python-pptx, an HTML parser)."""

import csv
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pptx import Presentation
from pypdf import PdfReader
from test_report_artifacts import RESULT_ROWS, STAGE_ROWS, TOY, make_all, make_data

from sit.report import build_report
from sit.report.readme import BEGIN, END, replace_block
from sit.session import start

ROOT = Path(__file__).resolve().parents[1]
STEP_SECTIONS = ("magpie", "filtering", "preference", "training", "stages", "evaluation", "agent")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A report over a workspace where every step has run."""
    root = tmp_path_factory.mktemp("full")
    make_all(root)
    return build_report(start("demo", str(root), verbose=False), verbose=False)


def _pdf_text(path: Path) -> tuple[PdfReader, str]:
    reader = PdfReader(str(path))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def _results_csv(root: Path) -> list[dict]:
    with open(root / "evaluation/results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_report_before_anything_ran_says_not_run_yet_in_every_format(tmp_path):
    result = build_report(start("demo", str(tmp_path), verbose=False), verbose=False)
    assert set(result.paths) == {"md", "html", "pdf", "pptx"}
    assert [s.key for s in result.report.sections if not s.ran] == list(STEP_SECTIONS) + ["cost", "reproducibility"]
    md = result.paths["md"].read_text()
    assert md.count("not run yet**") == 9
    _, text = _pdf_text(result.paths["pdf"])
    assert text.count("not run yet") >= 9
    deck = Presentation(str(result.paths["pptx"]))
    texts = [shape.text_frame.text for slide in deck.slides for shape in slide.shapes if shape.has_text_frame]
    assert sum("not run yet" in t for t in texts) >= 7


def test_the_pdf_carries_the_figures_of_results_csv_and_the_toy_warning_on_page_one(full):
    reader, text = _pdf_text(full.paths["pdf"])
    first = reader.pages[0].extract_text()
    assert "test the code path only" in first and TOY in first
    flat = " ".join(text.split())
    for row in _results_csv(full.evidence.root):
        assert f"{float(row['value']):.3f}" in flat, row
    for _, _, mean, low, high, *_ in STAGE_ROWS:
        assert f"{mean:.3f} [{low:.3f}, {high:.3f}]" in flat
    images = sum(len(page.images) for page in reader.pages)
    assert images == len(full.report.figures) >= 12  # pipeline, filter, 2 pair charts, 6 curves, stages, evaluation
    assert len(reader.pages) >= 8


def test_the_slides_hold_one_slide_per_step_with_charts_and_the_results_table(full):
    deck = Presentation(str(full.paths["pptx"]))
    titles = [s.shapes.title.text for s in deck.slides]
    assert titles[0] == full.report.title and titles[1] == "Pipeline" and titles[-1] == "Conclusions"
    for step in ("Step 1 · Magpie generation", "Step 2 · Quality filtering", "Step 3 · Preference pairs",
                 "Steps 4–5 · QLoRA SFT and DPO", "Step 6 · Evaluation", "Step 7 · Agent evaluation"):
        assert step in titles
    assert "Results: held-out reward by stage" in titles
    pictures = [shape for slide in deck.slides for shape in slide.shapes if shape.shape_type == 13]
    assert len(pictures) >= 5
    evaluation = deck.slides[titles.index("Step 6 · Evaluation")]
    table = next(shape.table for shape in evaluation.shapes if shape.has_table)
    header = [cell.text for cell in table.rows[0].cells]
    shown = {(r.cells[header.index("model")].text, r.cells[header.index("stage")].text,
              r.cells[header.index("benchmark")].text): float(r.cells[header.index("value")].text)
             for r in list(table.rows)[1:]}
    names = {"base": "base", "sft": "SFT", "dpo": "SFT+DPO"}
    for model, stage, benchmark, _, value, _, _ in RESULT_ROWS:
        assert shown[(model, names[stage], benchmark)] == pytest.approx(value, abs=5.0001e-4)  # shown to 3 decimals
    assert all(slide.notes_slide.notes_text_frame.text.startswith("Source") for slide in deck.slides
               if any(shape.has_table for shape in slide.shapes))


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.external = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("script", "link", "iframe") or (tag in ("img", "source") and not attrs.get("src", "").startswith(
                "data:")):
            self.external.append(tag)


def test_the_html_is_self_contained_and_the_markdown_links_files_that_exist(full):
    page = full.paths["html"].read_text()
    tags = _Tags()
    tags.feed(page)
    assert tags.external == [] and len(tags.images) == len(full.report.figures)
    assert all(src.startswith("data:image/png;base64,") for src in tags.images)
    assert page.index("test the code path only") < page.index("Contents")
    md = full.paths["md"].read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(linked) == len(full.report.figures)
    assert all((full.paths["md"].parent / link).is_file() for link in linked)


def test_verdicts_come_from_the_evaluation_comparison_and_the_intervals(full):
    said = " ".join(b for block in full.report.section("evaluation").blocks for b in getattr(block, "items", []))
    assert "Llama-3.2-3B SFT+DPO vs base, IFEval prompt-strict: **improved** (0.300, 95% CI [0.150, 0.450]" in said
    stages = " ".join(b for block in full.report.section("stages").blocks for b in getattr(block, "items", []))
    assert "Llama-3.2-3B, held-out reward: SFT+DPO 1.789 [1.400, 2.200] is **higher** than SFT 0.456" in stages
    table = next(b for b in full.report.section("stages").blocks if hasattr(b, "rows"))
    assert [row[-1] for row in table.rows] == ["–", "+1.69 [1.200, 2.100] vs base", "+1.33 [0.900, 1.800] vs SFT"]


def test_readme_block_replaces_only_the_text_between_its_markers(tmp_path, full):
    readme = (ROOT / "README.md").read_text()
    assert BEGIN in readme and END in readme
    updated = replace_block(readme, full.readme_block)
    before, after = readme.split(BEGIN)[0], readme.split(END)[1]
    assert updated.startswith(before) and updated.endswith(after)
    assert f"world `{TOY}`" in updated and "| 02 Quality filtering | 22 →" in updated
    from sit.hygiene import check

    copy = tmp_path / "repo"
    (copy / "notebooks").mkdir(parents=True)
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        (copy / "notebooks" / nb.name).write_bytes(nb.read_bytes())
    (copy / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    (copy / "README.md").write_text(readme)
    before_update = check(copy)
    (copy / "README.md").write_text(updated)
    assert check(copy) == before_update  # every badge and the repository URL are checked as before
    assert not any("README" in problem and "03_" in problem for problem in check(copy))


def test_sit_report_command_writes_what_it_is_asked_for(tmp_path):
    make_data(tmp_path)
    sit = str(Path(sys.executable).with_name("sit"))
    done = subprocess.run([sit, "report", "--profile", "demo", "--workspace", str(tmp_path), "--format", "md",
                           "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "evaluation/report.md").is_file() and not (tmp_path / "evaluation/report.pdf").exists()
    bad = subprocess.run([sit, "report", "--profile", "demo", "--workspace", str(tmp_path), "--format", "docx"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "invalid choice: 'docx'" in bad.stderr
