# Two entry points for a fresh machine (see README):
#   make run   - set up .venv if needed, then `snakemake --cores 8 all --resources mem_mb=6000` on config.yaml
#   make test  - set up .venv if needed, then ruff and the whole pytest suite
#   make seeds - after `make run`: every model trained again with two more seeds (config.seeds.yaml)
#   make semanticodec-env - a separate venv (.venv-semanticodec) for the SemantiCodec backend:
#                torch 2.9.1 + torchaudio 2.9.1 + the semanticodec package (scripts/setup_semanticodec_env.sh)
# GPU machines: make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" run

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
CORES ?= 8
# jobs run side by side only while their declared memory (mem_mb) sums to at most this: the
# embedded default's design budget is 6 GB of peak memory
MEM_MB ?= 6000
SNAKEMAKE_ARGS ?=
SEMANTICODEC_VENV ?= .venv-semanticodec
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run seeds test lint dry-run clean-results semanticodec-env

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	# torch first and pinned, so nothing below pulls the multi-GB CUDA build on a CPU machine
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	# then the project at the tested versions (constraints.txt: pip freeze of the tested venv)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --cores $(CORES) all --resources mem_mb=$(MEM_MB) $(SNAKEMAKE_ARGS)

seeds: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --cores $(CORES) all --configfile config.yaml config.seeds.yaml --resources mem_mb=$(MEM_MB) $(SNAKEMAKE_ARGS)

dry-run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --cores $(CORES) -n --quiet rules all $(SNAKEMAKE_ARGS)

lint: setup
	$(BIN)/ruff check src tests
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --lint

test: setup
	$(BIN)/ruff check src tests
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

# the SemantiCodec backend's own environment (its package needs torchaudio, which no PyPI build
# matches to the project's torch 2.13); pins in envs/semanticodec-constraints.txt
semanticodec-env:
	PYTHON=python3.11 bash scripts/setup_semanticodec_env.sh $(SEMANTICODEC_VENV)

clean-results:
	rm -rf results data logs benchmarks
