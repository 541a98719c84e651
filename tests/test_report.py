"""`sit report`: the report in four formats, opened with real readers (pypdf, python-pptx, an HTML parser)."""

import csv
import io
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pptx import Presentation
from pypdf import PdfReader
from test_report_artifacts import STAGE_ROWS, TOY, make_all, make_data

from sit.report import build_report
from sit.report.readme import BEGIN, END, replace_block
from sit.session import start

ROOT = Path(__file__).resolve().parents[1]
NOT_RUN_SECTIONS = ["magpie", "filtering", "preference", "training", "real_setup", "headline", "stages", "evaluation",
                    "agent", "examples", "discussion", "appendix_results", "appendix_settings", "reproducibility"]
VERDICT = r"(higher|lower|no clear change)"
INTERVAL = r"([+-]\d+\.\d+) \[([+-]\d+\.\d+), ([+-]\d+\.\d+)\]"
MEANS = r"(?:(-?\d+\.\d+) → (-?\d+\.\d+), )?"
# "**lower** (5.900 → 4.500, -1.400 [-2.200, -0.600]": the two paired means, when printed, come first
VERDICT_FIRST = re.compile(VERDICT + r"\** \(" + MEANS + INTERVAL)
VERDICT_AFTER = re.compile(INTERVAL + r"(?::| \|)? " + VERDICT)  # "-1.400 [-2.200, -0.600] | lower" (a table)


def make_large(root: Path) -> None:
    """A workspace the size of the demo's: every metric of every benchmark for 3 models x 3 stages."""
    make_all(root)
    models = ["meta-llama/Llama-3.2-3B", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen2.5-3B"]
    metrics = [("ifeval", m) for m in ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc",
                                       "inst_level_loose_acc")] + [("mmlu", "acc")] + \
              [("mt_bench", m) for m in ("score", "score_turn1", "score_turn2", "writing", "roleplay", "reasoning",
                                         "math", "coding", "extraction", "stem", "humanities")]
    rows = [[m, s, b, metric, 0.1 + 0.01 * i, 0.05, 28, TOY, "", "offline fixture; sample of 28 prompts " * 3]
            for i, (m, s, (b, metric)) in enumerate((m, s, bm) for m in models for s in ("base", "sft", "dpo")
                                                     for bm in metrics)]
    with open(root / "evaluation/results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "stage", "benchmark", "metric", "value", "stderr", "n", "world", "judge", "note"])
        writer.writerows(rows)
    with open(root / "evaluation/comparison.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "stage", "benchmark", "metric", "label", "base", "value", "delta", "ci_low",
                         "ci_high", "n", "verdict", "why"])
        for m in models:
            for s in ("sft", "dpo"):
                for b, metric, label in (("ifeval", "prompt_level_strict_acc", "IFEval prompt-strict (headline)"),
                                         ("mmlu", "acc", "MMLU acc"), ("mt_bench", "score", "MT-Bench (local judge)"),
                                         ("reward", "mean_reward", "reward (held-out)")):
                    writer.writerow([m, s, b, metric, label, 0.2, 0.25, 0.05, -0.02, 0.12, 28, "", ""])


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    root = tmp_path_factory.mktemp("large")
    make_large(root)
    return build_report(start("demo", str(root), verbose=False), verbose=False)


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
    assert [s.key for s in result.report.sections if not s.ran] == NOT_RUN_SECTIONS
    md = result.paths["md"].read_text()
    assert md.count("not run yet**") == len(NOT_RUN_SECTIONS)
    _, text = _pdf_text(result.paths["pdf"])
    assert text.count("not run yet") >= len(NOT_RUN_SECTIONS)
    deck = Presentation(str(result.paths["pptx"]))
    texts = [shape.text_frame.text for slide in deck.slides for shape in slide.shapes if shape.has_text_frame]
    assert sum("not run yet" in t for t in texts) >= len(NOT_RUN_SECTIONS)


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
    # pipeline, filter removals, pair choices, training curves, held-out reward, one chart per benchmark
    assert images == len(full.report.figures) == 8


def test_the_pdf_is_a_technical_report_of_at_most_15_pages(large):
    reader, text = _pdf_text(large.paths["pdf"])
    assert len(reader.pages) <= 15
    flat = " ".join(text.split())
    for heading in ("Abstract", "Method and data", "Training: SFT and DPO with LoRA", "3 · Results",
                    "Qualitative examples", "Discussion", "Limitations", "Conclusions", "References", "Appendix A",
                    "Appendix B"):
        assert heading in flat, heading
    references = re.findall(r"\[(\d+)\] [^\[]*?arXiv:\d{4}\.\d{4,5}", flat)
    assert len(set(references)) >= 8
    for name in ("Magpie", "LoRA", "QLoRA", "Direct Preference Optimization", "Instruction-Following Evaluation",
                 "MT-Bench", "Massive Multitask Language Understanding", "WebShop", "AgentBench", "DeBERTa"):
        assert name in flat.split("References")[-1], name
    # the settings actually used, from the adapters' manifests, beside the real profile's
    assert "SFT settings: this run beside the real T4 profile" in flat and "colab_t4 (real)" in flat
    sft = next(b for b in large.report.section("training").blocks if getattr(b, "caption", "").startswith("SFT settings"))
    assert ["lora targets", "q_proj, k_proj, v_proj, o_proj"] in [[row[0], row[2]] for row in sft.rows]
    # the real pipeline's sizes and memory, as the planner computes them
    from sit.config import load_profile, load_registry
    from sit.planning.gpus import default_gpu
    from sit.planning.plan import Settings, plan

    real = next(b for b in large.report.section("real_setup").blocks if hasattr(b, "rows"))
    peaks = {}
    real_profile = load_profile("colab_t4")
    hub = load_registry().for_profile(real_profile)  # colab_t4's models: not a model another profile adds
    for e in plan(hub, real_profile, Settings(budget_gib=default_gpu(real_profile).memory_gib)):
        peaks[e.model] = max(peaks.get(e.model, 0), e.total)
    assert {row[0]: row[4].split()[0] for row in real.rows} == {m: f"{t / 1024**3:.1f}" for m, t in peaks.items()}
    from sit.planning.schedule import pack
    from sit.planning.timing import Timer, notebook_times

    sessions = pack(notebook_times(Timer(hub, real_profile, default_gpu(real_profile))))
    said = " ".join(b.text for b in large.report.section("real_setup").blocks if hasattr(b, "text"))
    assert f"packs them into {len(sessions)} sessions of 12 hours" in said
    # one headline table, every model, each with its conclusions
    headline = large.report.section("headline").blocks[1]
    assert {row[0] for row in headline.rows} == {"Llama-3.2-3B", "Mistral-7B-v0.1", "Qwen2.5-3B"}
    conclusions = large.report.section("conclusions").blocks[0].text
    assert 4 <= conclusions.count(". ") + 1 <= 6
    # base, SFT and SFT+DPO answers to the same held-out prompt, side by side
    example = next(b for b in large.report.section("examples").blocks if hasattr(b, "rows"))
    assert example.columns == ["model", "base", "SFT", "SFT+DPO"] and len(example.rows) == 3
    assert all(row[1].startswith(f"{slug} base answer 3") and row[3].startswith(f"{slug} dpo answer 3")
               for row, slug in zip(example.rows, ("llama-3.2-3b", "mistral-7b-v0.1", "qwen2.5-3b"), strict=True))


def _said(result) -> str:
    """Every sentence and table cell of the report, and every text on the slides."""
    parts = [result.paths["md"].read_text()]
    deck = Presentation(str(result.paths["pptx"]))
    for slide in deck.slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                parts.append(shape.text_frame.text)
            if shape.has_table:
                parts += [cell.text for row in shape.table.rows for cell in row.cells]
    return "\n".join(parts)


def test_no_verdict_contradicts_the_paired_change_printed_beside_it(full):
    said = _said(full)
    first = VERDICT_FIRST.findall(said)
    found = [(v, d, lo, hi) for v, _, _, d, lo, hi in first]
    found += [(v, d, lo, hi) for d, lo, hi, v in VERDICT_AFTER.findall(said)]
    assert len(found) >= 14
    # every printed change is the difference of the two means printed beside it
    paired = [(a, b, d) for _, a, b, d, _, _ in first if a]
    assert len(paired) >= 4
    assert all(float(d) == pytest.approx(float(b) - float(a), abs=1e-9) for a, b, d in paired), paired
    for verdict, delta, low, high in found:
        low, high = float(low), float(high)
        expected = "higher" if low > 0 else "lower" if high < 0 else "no clear change"
        assert verdict == expected, (delta, low, high, verdict)
    # stage intervals that overlap do not decide: the paired change below 0 reads "lower"
    assert "Mistral-7B-v0.1 SFT+DPO vs SFT, held-out reward: **lower** (0.900 → 0.300, -0.600 [-0.950, -0.250]" in said
    assert "| Mistral-7B-v0.1 | MT-Bench (local judge) | SFT | 16 | 5.900 | 4.500 | -1.400 [-2.200, -0.600] | lower |" in said
    assert "intervals overlap" not in said and "no clear difference" not in said


def _inside(shape, deck) -> bool:
    return (shape.left >= 0 and shape.top >= 0 and shape.left + shape.width <= deck.slide_width
            and shape.top + shape.height <= deck.slide_height)


def _text_fits(cell, width_emu: int, height_emu: int) -> bool:
    """The cell's text, wrapped at half an em per character, fits the row PowerPoint will draw."""
    size = cell.text_frame.paragraphs[0].font.size.pt
    per_line = max(1, int((width_emu / 914400 - 0.2) * 72 / (size * 0.5)))
    lines = -(-max(1, len(cell.text)) // per_line)
    return lines * size * 1.2 / 72 + 0.1 <= height_emu / 914400 + 0.01


@pytest.mark.parametrize("which", ["full", "large"])
def test_every_slide_shape_lies_inside_the_slide_and_carries_the_toy_banner(which, request):
    result = request.getfixturevalue(which)
    deck = Presentation(str(result.paths["pptx"]))
    assert len(deck.slides) >= 12
    for number, slide in enumerate(deck.slides, start=1):
        for shape in slide.shapes:
            assert _inside(shape, deck), (number, shape.name, shape.left, shape.top, shape.width, shape.height)
            if shape.has_table:  # the table's rows and columns add up to its frame: no row runs off below
                assert sum(r.height for r in shape.table.rows) <= shape.height + 10
                assert sum(c.width for c in shape.table.columns) <= shape.width + 10
                for row in shape.table.rows:
                    for cell, column in zip(row.cells, shape.table.columns, strict=True):
                        if cell.is_spanned:
                            continue
                        assert _text_fits(cell, column.width, row.height), (number, cell.text)
        texts = [shape.text_frame.text for shape in slide.shapes if shape.has_text_frame]
        assert any(t.startswith(f"TOY WORLD {TOY}") for t in texts), number


def test_a_hub_deck_has_no_toy_banner(tmp_path):
    make_data(tmp_path, world="hub")
    result = build_report(start("demo", str(tmp_path), verbose=False), formats=["pptx"], verbose=False)
    deck = Presentation(str(result.paths["pptx"]))
    assert not any("TOY WORLD" in shape.text_frame.text for slide in deck.slides for shape in slide.shapes
                   if shape.has_text_frame)
    # real models are named as themselves; a toy run names each as the stand-in it is
    hub = result.report.section("abstract").blocks[-1].text
    assert "We prompt Llama-3.1-8B-Instruct with" in hub and "stand-in" not in hub
    toy = build_report(start("demo", str(_toy_data(tmp_path)), verbose=False), formats=["md"], verbose=False)
    said = toy.report.section("abstract").blocks[-1].text
    assert "We prompt the toy stand-in of Llama-3.1-8B-Instruct with" in said
    assert "**The toy world.**" in toy.paths["md"].read_text()
    limits = lambda result: " ".join(result.report.section("limitations").blocks[-1].items)  # noqa: E731
    assert "one generator (Llama-3.1-8B-Instruct)" in limits(result)
    assert "one generator (the toy stand-in of Llama-3.1-8B-Instruct)" in limits(toy)


def _toy_data(tmp_path):
    root = tmp_path / "toy"
    make_data(root)
    return root


def _table_on(deck, title):
    slide = next(s for s in deck.slides if s.shapes.title.text == title)
    table = next(shape.table for shape in slide.shapes if shape.has_table)
    return slide, [[cell.text for cell in row.cells] for row in table.rows]


def test_the_slides_hold_the_headline_table_the_agent_results_and_their_sources(full):
    deck = Presentation(str(full.paths["pptx"]))
    titles = [s.shapes.title.text for s in deck.slides]
    assert titles[0] == full.report.title and titles[1] == "Why synthetic instruction data?" and "Conclusions" in titles
    for step in ("2.1 · Data generation (Magpie)", "2.4 · Training: SFT and DPO with LoRA", "What the benchmarks measure",
                 "Agent results (WebShop-style)", "The same held-out instruction, answered at every stage", "Lessons",
                 "The real run on a Colab T4: the plan"):
        assert step in titles
    slide, rows = _table_on(deck, next(t for t in titles if t.startswith("Results: ") and "MT-Bench" in t))
    assert rows[0] == ["model", "measure", "stage", "n", "base", "stage mean", "change [95% CI]", "verdict"]
    assert ["Mistral-7B-v0.1", "MT-Bench (local judge)", "SFT", "16", "5.900", "4.500", "-1.400 [-2.200, -0.600]",
            "lower"] in rows
    assert ["Mistral-7B-v0.1", "MT-Bench (local judge)", "SFT+DPO", "14", "5.900", "4.812", "-1.088 [-2.300, +0.100]",
            "no clear change"] in rows
    assert slide.notes_slide.notes_text_frame.text.startswith("Talking points:")
    _, agent = _table_on(deck, "Agent results (WebShop-style)")
    assert agent[0][:5] == ["agent", "stage", "mean reward", "success rate", "invalid-action rate"]
    assert ["Qwen2.5-3B", "SFT+DPO", "0.267 [0.170, 0.360]", "0.200 [0.067, 0.333]", "0.250 [0.150, 0.350]"] == \
        agent[2][:5]
    pictures = [shape for slide in deck.slides for shape in slide.shapes if shape.shape_type == 13]
    assert len(pictures) >= 6
    conclusions = next(s for s in deck.slides if s.shapes.title.text == "Conclusions")
    assert "evaluation/comparison.csv" in conclusions.notes_slide.notes_text_frame.text
    assert deck_problems(deck, ["Llama-3.2-3B", "Mistral-7B-v0.1", "Qwen2.5-3B"], toy=True) == []
    title = " ".join(shape.text_frame.text for shape in deck.slides[0].shapes if shape.has_text_frame)
    assert "set me (report.author) · set me (report.course) · 20" in title  # the title block the report has


SUMMARY_TITLES = re.compile(r"^(Results: |Held-out reward|Conclusions|Agent results|.+ against base: )")
MIN_PT = 12


def _runs(shape):
    """Every (text, size in pt or None) run of a shape: text frames, table cells and grouped shapes."""
    if shape.shape_type == 6:  # a group
        for inner in shape.shapes:
            yield from _runs(inner)
        return
    frames = [shape.text_frame] if shape.has_text_frame else []
    frames += [c.text_frame for row in shape.table.rows for c in row.cells] if getattr(shape, "has_table", False) else []
    for frame in frames:
        for paragraph in frame.paragraphs:
            for run in paragraph.runs:
                # a run without its own size inherits the paragraph's default, else the template's (unknown
                # here, and different in each application): both count as unsized unless set
                size = run.font.size or paragraph.font.size
                yield run.text, size.pt if size is not None else None


def deck_problems(deck, models: list[str], toy: bool) -> list[str]:
    """What keeps a deck from being given as a talk: text under 12 pt or of no set size, a summary slide
    that leaves a model out, a chart without a takeaway title (a sentence with the run's numbers), notes
    without talking points above their sources, a missing talk slide."""
    problems = []
    titles = [s.shapes.title.text for s in deck.slides]
    for name in ("Why synthetic instruction data?", "What the benchmarks measure", "Lessons",
                 "The same held-out instruction, answered at every stage", "The real run on a Colab T4: the plan"):
        if name not in titles:
            problems.append(f"no slide {name!r}")
    for number, slide in enumerate(deck.slides, start=1):
        title = slide.shapes.title.text
        text = []
        for shape in slide.shapes:
            for run_text, size in _runs(shape):
                text.append(run_text)
                if run_text.strip() and (size is None or size < MIN_PT):
                    problems.append(f"slide {number} ({title}): {size} pt: {run_text[:40]!r}")
        said = " ".join(text)
        if SUMMARY_TITLES.match(title):
            problems += [f"slide {number} ({title}) leaves out {m}" for m in models if m not in said]
        if any(shape.shape_type == 13 for shape in slide.shapes) and not re.search(r"\d", title):
            problems.append(f"slide {number}: a chart titled {title!r}, not a takeaway with the run's numbers")
        notes = slide.notes_slide.notes_text_frame.text
        if number > 1 and not (notes.startswith("Talking points:") and "Source" in notes.split("\n\n", 1)[-1]):
            problems.append(f"slide {number} ({title}): notes {notes[:40]!r} lack talking points above the sources")
    plan = [s for s in deck.slides if s.shapes.title.text == "The real run on a Colab T4: the plan"]
    if plan and not any(shape.has_table for shape in plan[0].shapes):
        problems.append("the T4 plan slide has no session table (the planner did not run)")
    conclusions = " ".join(" ".join(t for t, _ in _runs(shape)) for slide in deck.slides
                           if slide.shapes.title.text.startswith("Conclusions") for shape in slide.shapes)
    if "Agent" not in conclusions:
        problems.append("the conclusions say nothing about the agent")
    if toy and "Toy world" not in conclusions:
        problems.append("the conclusions do not say the numbers come from the toy world")
    return problems


def test_the_preference_slide_names_the_generator_when_its_answers_were_candidates(tmp_path):
    make_data(tmp_path)
    report = tmp_path / "data/preference/report.json"
    data = json.loads(report.read_text())
    data["models_used"].append("generator (Magpie answer)")
    report.write_text(json.dumps(data))
    result = build_report(start("demo", str(tmp_path), verbose=False), formats=["pptx"], verbose=False)
    slide = next(s for s in Presentation(str(result.paths["pptx"])).slides
                 if "chosen" in s.shapes.title.text)
    text = " ".join(shape.text_frame.text for shape in slide.shapes if shape.has_text_frame)
    assert "the answers of 3 base models and the instruct generator (Llama-3.1-8B-Instruct)" in text


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


def test_verdicts_come_from_the_evaluation_comparison_and_the_stage_table(full):
    headline = full.report.section("headline").blocks[1]
    assert ["Llama-3.2-3B", "IFEval prompt-strict", "SFT+DPO", "80", "0.312", "0.613", "+0.301 [+0.150, +0.450]",
            "higher"] in headline.rows
    stages = " ".join(b for block in full.report.section("stages").blocks for b in getattr(block, "items", []))
    assert "Llama-3.2-3B SFT+DPO vs SFT, held-out reward: **higher** (0.456 → 1.789, +1.333 [+0.900, +1.800]" in stages
    table = full.report.section("headline").blocks[1]
    llama = [row[2:] for row in table.rows if row[:2] == ["Llama-3.2-3B", "held-out reward"]]
    assert llama == [["SFT", "16", "-1.234", "0.456", "+1.690 [+1.200, +2.100]", "higher"],
                     ["SFT+DPO", "16", "-1.234", "1.789", "+3.023 [+2.500, +3.500]", "higher"]]
    assert "Mistral-7B-v0.1 SFT+DPO MT-Bench (local judge): 2" in table.caption  # items that dropped out


def test_readme_block_replaces_only_the_text_between_its_markers(tmp_path, full):
    readme = (ROOT / "README.md").read_text()
    assert BEGIN in readme and END in readme
    updated = replace_block(readme, full.readme_block)
    before, after = readme.split(BEGIN)[0], readme.split(END)[1]
    assert updated.startswith(before) and updated.endswith(after)
    assert f"world `{TOY}`" in updated and "Data: 22 Magpie records → 16 kept by the filters" in updated
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


WHICH_RUN = re.compile(r"^\*\*Which run:\*\* `sit report` of \d{4}-\d{2}-\d{2} · profile `(\w+)`, seed (\d+) · "
                       r"world `([^`]+)`(?: · code at commit `[0-9a-f]{10}`)?\. ")


def test_the_readme_block_says_which_run_made_its_numbers(full):
    """The block is a copy of one run's numbers: its first line names that run (date, profile, seed, world
    fingerprint, commit), so no reader takes it for their own run's."""
    assert WHICH_RUN.match(full.readme_block).groups() == ("demo", "42", TOY)
    readme = (ROOT / "README.md").read_text()
    shown = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    found = WHICH_RUN.match(shown)
    assert found and "code at commit" in shown.splitlines()[0], shown.splitlines()[0]
    assert re.fullmatch(r"toy:[0-9a-f]{16} · CPU \w+ · weights [0-9a-f]{12}", found.group(3))


def test_sit_report_command_writes_what_it_is_asked_for(tmp_path):
    make_data(tmp_path)
    sit = str(Path(sys.executable).with_name("sit"))
    done = subprocess.run([sit, "report", "--profile", "demo", "--workspace", str(tmp_path), "--format", "md",
                           "--set", "report.author=Ada Lovelace", "--set", "report.date=2026-05-01", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "evaluation/report.md").is_file() and not (tmp_path / "evaluation/report.pdf").exists()
    # the title block: what the student set, and "set me" for what they did not
    assert "**Ada Lovelace · set me (`report.course`) · 2026-05-01**" in (tmp_path / "evaluation/report.md").read_text()
    bad = subprocess.run([sit, "report", "--profile", "demo", "--workspace", str(tmp_path), "--format", "docx"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "invalid choice: 'docx'" in bad.stderr


def _colors(png: bytes) -> dict[tuple, int]:
    from PIL import Image

    return {color: count for count, color in Image.open(io.BytesIO(png)).convert("RGB").getcolors(1 << 24)}


def _has_toy_mark(png: bytes) -> bool:
    """Pixels of the mark's dark red (#B22222), exact or as anti-aliased text leaves it."""
    return sum(n for (r, g, b), n in _colors(png).items()
               if 168 <= r <= 192 and 24 <= g <= 48 and 24 <= b <= 48 and abs(g - b) <= 6) >= 20


def test_every_chart_uses_the_one_stage_palette_the_headline_metric_and_the_toy_mark(full, tmp_path):
    from sit.charts import STAGE_COLORS

    assert all(_has_toy_mark(f.png) for f in full.report.figures), [f.name for f in full.report.figures
                                                                     if not _has_toy_mark(f.png)]
    rewards = next(f for f in full.report.figures if f.name == "stage_rewards")
    colors = set(_colors(rewards.png))
    for stage in ("base", "sft", "dpo"):
        assert tuple(int(STAGE_COLORS[stage][i:i + 2], 16) for i in (1, 3, 5)) in colors, stage
    assert (0x55, 0xA8, 0x68) not in colors  # DPO is orange everywhere, never the old green
    ifeval = next(f for f in full.report.figures if f.name == "eval_ifeval")
    assert "IFEval prompt-strict" in ifeval.caption and "prompt_level_strict_acc" in ifeval.caption
    make_all(tmp_path, world="hub")
    hub = build_report(start("demo", str(tmp_path), verbose=False), formats=["md"], verbose=False)
    assert len(hub.report.figures) == len(full.report.figures)
    assert not any(_has_toy_mark(f.png) for f in hub.report.figures)


def test_the_readme_block_marks_toy_numbers_as_varying_by_cpu_and_the_paired_verdicts(full):
    block = full.readme_block
    assert "vary by CPU" in block and f"world `{TOY}`" in block
    assert "12 preference pairs from the answers of 3 base models" in block
    rows = {tuple(line.split(" | ")[:2]): line for line in block.splitlines() if line.startswith("| ")}
    assert "4.500 ↓" in rows[("| Mistral-7B-v0.1", "SFT")]  # paired CI below 0
    assert "0.613 ↑" in rows[("| Llama-3.2-3B", "SFT+DPO")] and "0.438 ↑" not in block  # CI [-0.02, 0.27]: no mark


def test_the_readme_explains_the_toy_world_before_its_results_and_cites_only_its_own_docs():
    readme = (ROOT / "README.md").read_text()
    private_notes = "_".join(("FIELD", "NOTES"))  # a developers' file that users do not have (spelled apart, so
    assert private_notes not in readme            # this test is not itself a mention of it)
    assert readme.index("## The toy world") < readme.index(BEGIN)
    block = readme.split(BEGIN)[1].split(END)[0]
    assert "vary by CPU" in block and "from 4 models" not in block
    rows = [line for line in readme.split("## What you get")[0].splitlines() if re.match(r"\| 0\d \| \[", line)]
    assert len(rows) == 7
    for row in rows:  # step, notebook, T4 time from `sit plan`, badge
        time = row.split(" | ")[2]
        assert re.search(r"\d+(\.\d+)? (s|min|h)\b", time), row


def test_notebook_04_states_the_sft_memory_the_plan_computes():
    from sit.config import load_profile, load_registry
    from sit.planning.plan import plan

    notebook = json.loads((ROOT / "notebooks/04_sft_training.ipynb").read_text())
    text = " ".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    stated = re.search(r"needs about (\d+(?:\.\d)?) GiB on a T4 \(`sit plan`: Llama-3\.2-3B SFT", text)
    assert stated, "notebook 04 does not state the SFT memory of the plan"
    sft = next(e for e in plan(load_registry(), load_profile("colab_t4")) if (e.model, e.phase) == ("llama-3.2-3b", "sft"))
    assert float(stated.group(1)) == round(sft.total / 2**30, 1)


TEXT_BAR = re.compile(r"\d+%\|")  # a progress bar that could not redraw in place, one line per update


def printed_noise(notebook: Path) -> list[str]:
    """What the executed ``notebook`` printed that tells its reader nothing: text progress bars and the known
    noise of the libraries (lm-eval, bitsandbytes, transformers' loading bars, tqdm, FutureWarnings)."""
    from test_eval_real_path import NOISE

    printed = "".join(o["text"] if isinstance(o["text"], str) else "".join(o["text"])
                      for cell in json.loads(notebook.read_text())["cells"] for o in cell.get("outputs", [])
                      if o.get("output_type") == "stream")
    return [n for n in NOISE if n in printed] + TEXT_BAR.findall(printed)[:1]
