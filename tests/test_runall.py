"""`sit run-all`: discovery, skip/stale detection from manifests, moving stale artifacts aside, quiet
kernels, failures that name their cell, pruning old toy worlds, and the real notebooks 01-02 end to end."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from sit.config import ConfigError, load_profile, load_registry
from sit.manifest import read_manifest, write_manifest
from sit.pipeline.execute import StepFailed, execute
from sit.pipeline.runall import prune_toy_worlds, run_all, summary_table
from sit.pipeline.state import COMPLETE, PENDING, STALE, assess_all, config_changes, set_aside
from sit.pipeline.steps import discover, downstream

ROOT = Path(__file__).resolve().parents[1]
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
TARGETS = load_registry().for_profile(load_profile("demo")).by_role("target")  # run-all runs the profile's


def notebook(folder: Path, name: str, parameters: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(metadata=KERNEL)
    first = nbformat.v4.new_code_cell(parameters)
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first] + [nbformat.v4.new_code_cell(c) for c in cells]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


def manifest(root: Path, folder: str, section: dict, **extra) -> None:
    profile = load_profile("demo")
    write_manifest(root / folder, phase=folder, profile="demo", config=dict(section), seed=profile["seed"],
                   counts={"records": 3}, started_at="t", **extra)


def demo_runs(tmp_path):
    nbs = tmp_path / "notebooks"
    for name in ("01_gen.ipynb", "02_filter.ipynb"):
        notebook(nbs, name, "PROFILE = 'auto'")
    for name in ("03_pref.ipynb", "04_sft.ipynb", "05_dpo.ipynb"):
        notebook(nbs, name, "MODEL_NAME = 'x'\nPROFILE = 'auto'")
    return discover(nbs, TARGETS)


def test_a_model_notebook_runs_once_per_target_and_unknown_numbers_still_run(tmp_path):
    runs = demo_runs(tmp_path)
    notebook(tmp_path / "notebooks", "09_extra.ipynb", "PROFILE = 'auto'")
    runs = discover(tmp_path / "notebooks", TARGETS)
    assert [r.label for r in runs[:3]] == ["01_gen", "02_filter", f"03_pref · {TARGETS[0].slug}"]
    assert [r.output_name for r in runs if r.number == "04"] == [f"04_sft-{t.slug}.ipynb" for t in TARGETS]
    assert runs[-1].step is None and all(runs[-1].depends_on(r) for r in runs[:-1])
    # 05 for one model reads 04 of that model only, but the pairs 03 builds from every model
    dpo = next(r for r in runs if r.number == "05")
    assert [r.label for r in runs if dpo.depends_on(r)] == [r.label for r in runs if r.number == "03"] + [
        f"04_sft · {dpo.model.slug}"]


def test_complete_steps_are_skipped_and_a_changed_setting_makes_the_step_and_its_dependents_stale(tmp_path):
    runs = demo_runs(tmp_path)
    ws = tmp_path / "ws"
    profile = load_profile("demo")
    world = "toy:abc"
    manifest(ws, "data/raw", profile["generation"], world=world)
    manifest(ws, "data/filtered", profile["filtering"])
    manifest(ws, "data/preference", profile["preference"], models=[t.id for t in TARGETS])
    manifest(ws, f"models/{TARGETS[0].slug}/sft", {**profile["training"], **profile["training"]["sft"]},
             world=world)
    states = [s.state for s in assess_all(runs, ws, profile, world)]
    assert states[:5] == [COMPLETE] * 5 and states[5] == COMPLETE  # 01, 02, 03 x 3, 04 of the first model
    assert states[6:] == [PENDING] * (len(runs) - 6)

    changed = load_profile("demo", {"filtering.jaccard_threshold": 0.7, "generation.batch_size": 4})
    statuses = assess_all(runs, ws, changed, world)
    by_label = {r.label: s for r, s in zip(runs, statuses, strict=True)}
    assert by_label["01_gen"].state == COMPLETE  # batch size changes speed, not data
    assert by_label["02_filter"].reasons == ["filtering.jaccard_threshold: 0.8 -> 0.7"]
    for target in TARGETS:
        assert by_label[f"03_pref · {target.slug}"].reasons == ["its input changes: 02_filter is stale"]
    assert by_label[f"04_sft · {TARGETS[0].slug}"].state == STALE
    assert by_label[f"04_sft · {TARGETS[1].slug}"].state == PENDING  # nothing there to set aside

    other_world = assess_all(runs, ws, profile, "toy:new")
    assert other_world[0].reasons == ["world: 'toy:abc' -> 'toy:new'"] and other_world[0].state == STALE


def test_a_fresh_checkout_with_its_readmes_has_nothing_stale(tmp_path):
    nbs = tmp_path / "notebooks"
    notebook(nbs, "01_gen.ipynb", "PROFILE = 'auto'")
    notebook(nbs, "04_sft.ipynb", "MODEL_NAME = 'x'\nPROFILE = 'auto'")
    notebook(nbs, "06_eval.ipynb", "MODEL_NAME = 'x'\nPROFILE = 'auto'")
    runs = discover(nbs, TARGETS)
    ws = tmp_path / "ws"
    for folder in ("data", "evaluation"):
        (ws / folder).mkdir(parents=True)
        (ws / folder / "README.md").write_text("what goes here")
    assert {s.state for s in assess_all(runs, ws, load_profile("demo"), "toy:abc")} == {PENDING}
    (ws / "evaluation" / "results.csv").write_text("model\n")
    assert STALE in {s.state for s in assess_all(runs, ws, load_profile("demo"), "toy:abc")}


def test_a_finished_shared_folder_is_pending_for_a_model_it_does_not_list(tmp_path):
    runs = demo_runs(tmp_path)
    ws = tmp_path / "ws"
    profile = load_profile("demo")
    manifest(ws, "data/raw", profile["generation"])
    manifest(ws, "data/filtered", profile["filtering"])
    manifest(ws, "data/preference", profile["preference"], models=[TARGETS[0].id, TARGETS[1].slug])
    states = [s.state for s in assess_all(runs, ws, profile, "toy:abc")][2:5]
    assert states == [COMPLETE, COMPLETE, PENDING]
    manifest(ws, "data/raw", profile["generation"], status="running")
    statuses = assess_all(runs, ws, profile, "toy:abc")
    assert statuses[0].state == PENDING and statuses[1].reasons == ["its input changes: 01_gen runs first"]


def test_settings_the_phase_leaves_to_the_model_or_does_not_record_are_not_compared():
    recorded = {"epochs": 3, "batch_size": 4, "sft": {"lora_r": 8}}
    current = {"training.sft.epochs": 3, "training.sft.batch_size": None, "training.sft.lora_r": 8,
               "training.sft.new_knob": 1}
    assert config_changes(recorded, current) == []
    assert config_changes(recorded, {"training.sft.lora_r": 16}) == ["training.sft.lora_r: 8 -> 16"]
    assert config_changes({"x": 1}, {"s.x": 1.0}) == [] and config_changes({"x": [1, 2]}, {"s.x": (1, 2)}) == []


def test_stale_artifacts_are_moved_aside_with_everything_downstream_never_deleted(tmp_path):
    runs = demo_runs(tmp_path)
    ws = tmp_path / "ws"
    profile = load_profile("demo")
    manifest(ws, "data/filtered", profile["filtering"])
    manifest(ws, "data/preference", profile["preference"])
    (ws / "data/preference/pairs.jsonl").write_text('{"id": "p1"}\n')
    affected = downstream(runs, runs[1])
    assert {r.number for r in affected} == {"02", "03", "04", "05"}
    moved = set_aside(affected, ws, stamp="s1")
    assert [str(a.relative_to(ws)) for a, _ in moved] == ["data/filtered", "data/preference"]
    assert (ws / "stale/s1/data/preference/pairs.jsonl").read_text() == '{"id": "p1"}\n'
    assert not (ws / "data/filtered").exists()


def test_prune_keeps_the_current_and_the_previous_world_and_never_touches_a_build(tmp_path):
    names = ["a" * 16, "b" * 16, "c" * 16, "d" * 16]
    for age, name in enumerate(names):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
        os.utime(tmp_path / name, (time.time() - 100 * age, time.time() - 100 * age))
    (tmp_path / f".{'e' * 16}.tmp-12").mkdir()
    (tmp_path / f".{'e' * 16}.lock").write_text("")
    removed = prune_toy_worlds(tmp_path, current="d" * 16)
    assert sorted(p.name for p in removed) == ["b" * 16, "c" * 16]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".eeeeeeeeeeeeeeee.lock", ".eeeeeeeeeeeeeeee.tmp-12",
                                                                  "a" * 16, "d" * 16])


def test_a_failing_cell_is_named_with_the_executed_notebook_that_holds_the_traceback(tmp_path):
    nb = notebook(tmp_path / "nbs", "01_x.ipynb", "PROFILE = 'auto'", "x = 1", "# the data\nraise ValueError('bad line 7')")
    out = tmp_path / "runs" / "01_x.ipynb"
    with pytest.raises(StepFailed) as caught:
        execute(nb, out, {"PROFILE": "demo"}, label="01_x")
    message = str(caught.value)
    assert "01_x failed in cell [4] `raise ValueError('bad line 7')`: ValueError: bad line 7" in message
    assert str(out) in message
    executed = nbformat.read(out, as_version=4)
    assert any("ValueError" in "".join(o.get("traceback", [])) for c in executed.cells for o in c.get("outputs", []))
    assert out.with_suffix(".kernel.log").exists()


def test_every_step_kernel_is_stopped_after_its_notebook_ran_or_failed(tmp_path):
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    ok = notebook(tmp_path / "nbs", "01_ok.ipynb", "PROFILE = 'auto'", "import os\npid = os.getpid()\nprint(pid)")
    bad = notebook(tmp_path / "nbs", "02_bad.ipynb", "PROFILE = 'auto'", "raise ValueError('x')")
    execute(ok, tmp_path / "runs" / "01_ok.ipynb", {}, label="01_ok")
    kernel_pid = int(nbformat.read(tmp_path / "runs" / "01_ok.ipynb", as_version=4).cells[-1].outputs[0]["text"])
    with pytest.raises(StepFailed):
        execute(bad, tmp_path / "runs" / "02_bad.ipynb", {}, label="02_bad")
    assert not _alive(kernel_pid)
    assert {p.pid for p in me.children(recursive=True) if _alive(p.pid)} <= before


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped (and not gone between listing and looking)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


SCRIPT = """
import sys
from pathlib import Path
from sit.config import ConfigError
from sit.pipeline.execute import StepFailed
from sit.pipeline.runall import run_all
try:
    run_all("demo", sys.argv[1], notebook_dir=Path(sys.argv[2]), overrides=dict(a.split("=", 1) for a in sys.argv[4:]),
            rerun_stale=sys.argv[3] == "rerun", prune=False)
except (ConfigError, StepFailed) as error:
    print(error, file=sys.stderr)
    sys.exit(2)
"""


def run_all_process(ws, nbs, *overrides, rerun=False):
    return subprocess.run([sys.executable, "-c", SCRIPT, str(ws), str(nbs), "rerun" if rerun else "-", *overrides],
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_pipeline_skips_finished_steps_and_reruns_what_a_changed_threshold_makes_stale(tmp_path, toy_world):
    """Real notebooks 01 and 02 on the toy world, and a stand-in 03 that records its settings, run by
    `run_all` in a fresh process: the terminal gets progress and the table, nothing from the kernels.
    A second run skips everything; a new filtering threshold makes 02 and 03 stale, and with
    --rerun-stale they rerun from set-aside copies while 01 is kept as it was."""
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    for name in ("01_magpie_generation.ipynb", "02_quality_filtering.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, nbs / name)
    notebook(nbs, "03_pairs.ipynb", "MODEL_NAME = 'x'\nPROFILE = 'auto'\nWORKSPACE = None\nSEED = 42\nOVERRIDES = {}",
             "from sit.session import start\nfrom sit.manifest import write_manifest\n"
             "s = start(PROFILE, WORKSPACE, SEED, OVERRIDES, verbose=False)\n"
             "write_manifest(s.workspace.preference_dir, phase='03', profile=s.profile_name, "
             "config=s.section('preference'), seed=s.seed, counts={'pairs': 7}, started_at='t', "
             "models=[r.id for r in s.registry.by_role('target')])")
    ws = tmp_path / "ws"
    small = ("generation.num_instructions=24", "filtering.target=12")
    first = run_all_process(ws, nbs, *small)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # no kernel transport warning, no shutdown noise
    lines = first.stdout.splitlines()
    assert sum("done in" in line for line in lines) == 2 + len(TARGETS)
    assert any(line.startswith("02_quality_filtering") and " ran " in line and "kept of 24" in line for line in lines)
    assert any(line.startswith("03_pairs") and "7 pairs" in line for line in lines)
    assert (ws / "runs/demo/03_pairs-qwen2.5-3b.ipynb").exists()
    raw_before = read_manifest(ws / "data/raw")

    second = run_all_process(ws, nbs, *small)
    assert second.returncode == 0 and second.stdout.count("skipped (complete)") == 2 + len(TARGETS)

    changed = (*small, "filtering.jaccard_threshold=0.7")
    refused = run_all_process(ws, nbs, *changed)
    assert refused.returncode == 2 and "running" not in refused.stdout
    assert "02_quality_filtering: filtering.jaccard_threshold: 0.8 -> 0.7" in refused.stderr
    assert "03_pairs · llama-3.2-3b: its input changes: 02_quality_filtering is stale" in refused.stderr
    assert "01_magpie" not in refused.stderr

    rerun = run_all_process(ws, nbs, *changed, rerun=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "[ 1/5] 01_magpie_generation: skipped (complete)" in rerun.stdout
    assert rerun.stdout.count("done in") == 1 + len(TARGETS)
    stale = next((ws / "stale").iterdir())
    assert sorted(p.name for p in (stale / "data").iterdir()) == ["filtered", "preference"]
    assert read_manifest(ws / "data/raw") == raw_before
    assert read_manifest(ws / "data/filtered")["config"]["jaccard_threshold"] == 0.7
    assert read_manifest(stale / "data/filtered")["config"]["jaccard_threshold"] == 0.8


def test_summary_table_has_one_row_per_run(tmp_path):
    from sit.pipeline.runall import Outcome

    runs = demo_runs(tmp_path)[:2]
    table = summary_table([Outcome(runs[0], "ran", 75.0, "24 instruction/response pairs"),
                           Outcome(runs[1], "skipped", None, "12 kept of 24")]).splitlines()
    assert table[0].split() == ["step", "model", "status", "time", "key", "figure"]
    assert table[2].split() == ["01_gen", "ran", "1m15s", "24", "instruction/response", "pairs"]
    assert table[3].split()[:2] == ["02_filter", "skipped"]


def test_run_all_refuses_a_stale_workspace_before_running_anything(tmp_path):
    nbs = tmp_path / "notebooks"
    notebook(nbs, "01_magpie_generation.ipynb", "PROFILE = 'auto'", "raise SystemExit('must not run')")
    ws = tmp_path / "ws"
    manifest(ws, "data/raw", load_profile("demo")["generation"], world="toy:0123456789abcdef")
    before = sorted(p.name for p in ws.rglob("*"))
    with pytest.raises(ConfigError, match=r"01_magpie_generation: world: 'toy:0123456789abcdef' -> 'toy:[0-9a-f]{16}'"
                                          r"[\s\S]*Nothing was run\. Rerun with --rerun-stale"):
        run_all("demo", str(ws), notebook_dir=nbs, prune=False, echo=lambda *a, **k: None)
    assert sorted(p.name for p in ws.rglob("*")) == before
    assert json.loads((ws / "data/raw/manifest.json").read_text())["world"] == "toy:0123456789abcdef"
