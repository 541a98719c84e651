"""What the notebooks show: a chart still appears in the kernel after the training curves were saved there,
and every table shows its cells whole, with long text wrapped (set once, by the setup cell's ``start``)."""

import json
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient

from sit.display import table_html
from sit.filtering import rejected_examples
from sit.session import start

ROOT = Path(__file__).resolve().parents[1]
REASON = "response has 412 words, more than response_max_words=400 (the answer rambles on) and ends here"
STAGE_ROWS = [{"model": "meta-llama/Llama-3.2-3B", "stage": stage, "mean_reward": 0.1 * k, "ci_low": 0.1 * k - 0.2,
               "ci_high": 0.1 * k + 0.2, "stopped_share": 0.5, "n": 16,
               **({"delta": 0.1, "delta_low": -0.1, "delta_high": 0.3, "vs": "base"} if k else {})}
              for k, stage in enumerate(("base", "sft", "dpo"))]


def notebook_cell(name: str, needle: str) -> str:
    cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    return next(c.source for c in cells if c.cell_type == "code" and needle in c.source)


def run_in_kernel(tmp_path, monkeypatch, *sources: str) -> list[list[dict]]:
    """Run ``sources`` as the cells of one notebook in a fresh kernel; the outputs per cell."""
    monkeypatch.delenv("MPLBACKEND", raising=False)  # let the kernel pick the notebook's inline backend
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                          "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return [cell.outputs for cell in nb.cells]


def test_notebook_05_shows_its_chart_after_training_saved_the_curves_in_the_same_kernel(tmp_path, monkeypatch):
    setup = f"from sit.session import start\nsession = start('demo', {str(tmp_path / 'ws')!r}, 42, verbose=False)"
    # what train_dpo does inside the kernel when it finishes a stage
    train = ("from pathlib import Path\nfrom sit.training.artifacts import save_logs\n"
             f"save_logs(Path({str(tmp_path)!r}), 'dpo', [{{'step': 1, 'loss': 0.69}}, {{'step': 2, 'loss': 0.5}}], "
             "model='meta-llama/Llama-3.2-3B', world_id=session.world_id)")
    imports = [line for line in notebook_cell("05_dpo_training.ipynb", "from sit.training.report").splitlines()
               if line.startswith(("from ", "import "))]
    rows = "\n".join([*imports, f"rows = {json.dumps(STAGE_ROWS)}"])
    did_it_help = notebook_cell("05_dpo_training.ipynb", "plot_stages(")
    outputs = run_in_kernel(tmp_path, monkeypatch, setup, train, rows, did_it_help)
    assert not [o for cell in outputs for o in cell if o["output_type"] == "error"], outputs
    shown = [o for o in outputs[-1] if o["output_type"] == "display_data"]
    assert any("image/png" in o["data"] for o in shown), [list(o.get("data", {})) for o in outputs[-1]]
    table = next(o["data"]["text/html"] for o in shown if "text/html" in o["data"])
    assert "pre-wrap" in table and "+0.100 [-0.100, +0.300] vs base" in table


def test_tables_in_a_notebook_show_long_text_whole_and_wrapped(tmp_path, monkeypatch):
    setup = f"from sit.session import start\nsession = start('demo', {str(tmp_path / 'ws')!r}, 42, verbose=False)"
    table = ("import pandas as pd\n"
             f"pd.DataFrame({{'filter': ['length'], 'reason': [{REASON!r}], 'text': ['a <|eot_id|>\\nb'], 'n': [3]}})")
    html = run_in_kernel(tmp_path, monkeypatch, setup, table)[-1][0]["data"]["text/html"]
    assert REASON in html and "white-space: pre-wrap" in html
    assert "&lt;|eot_id|&gt;" in html  # special tokens are shown, not taken for HTML tags


def test_start_sets_the_display_once_for_every_table(tmp_path):
    start("demo", str(tmp_path), 42, verbose=False)
    rejected = [{"id": f"magpie-{k}", "instruction": "Write a poem about the sea.", "response": "word " * 300,
                 "rejection": {"filter": "length", "reason": REASON}} for k in range(2)]
    frame = rejected_examples(rejected)
    assert REASON in frame.to_string() and REASON in table_html(frame)
    shortened = frame["response"][0]
    assert shortened.endswith("…") and shortened in table_html(frame)  # clipped where it was built, not again
    long = pd.DataFrame({"step": list(range(100)), "text": ["x" * 60] * 100})
    assert "…" in table_html(long) or "..." in table_html(long)  # a long frame keeps pandas' shortened view
    repeated = pd.DataFrame({"text": [REASON, REASON]}, index=[0, 0])
    assert table_html(repeated).count(REASON) == 2  # repeated labels: pandas' own HTML, still whole
