# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make book   -> virtual environment, pinned dependencies, papermill-execute every chapter, HTML book
#                  (chapters in parallel; one unchanged since its last execution is reused: FORCE=1 re-executes all)
#   make test   -> same environment; ruff (lint and format check), unit/end-to-end tests, then nbval over every chapter
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SITE   := _build/site/_build/html
# the published copy's repository (empty: no repository, issues or launch buttons; see book/reproducibility.md)
REPOSITORY_URL ?=

.PHONY: book execute html linkcheck pdf test lint format bench venv clean lock

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11+ is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

book: execute html
	@echo "book: $(SITE)/index.html"

execute: $(STAMP)
	$(BIN)/python tools/execute_chapters.py --out _build/src $(if $(REPOSITORY_URL),--repository $(REPOSITORY_URL)) $(if $(FORCE),--force)
	$(BIN)/python tools/findings.py _build/src

# from a clean Sphinx environment: a stale one keeps labels of pages that moved (duplicate-label warnings);
# every staged page is new to Sphinx anyway, so nothing is lost
html: $(STAMP)
	rm -rf _build/site
	$(BIN)/jupyter-book build _build/src --path-output _build/site -W --keep-going
	$(BIN)/python tools/check_links.py $(SITE)

# every internal link (page, figure, equation, citation anchor) of the built book resolves; offline, no fetching
linkcheck: $(STAMP)
	$(BIN)/python tools/check_links.py $(SITE)

# the executed book as one PDF (LaTeX: Debian's texlive-latex-extra, texlive-fonts-extra, texlive-xetex, latexmk,
# xindy); after make book or make execute
pdf: $(STAMP)
	rm -rf _build/pdf
	$(BIN)/jupyter-book build _build/src --path-output _build/pdf --builder pdflatex
	@echo "pdf: _build/pdf/_build/latex/sparselab.pdf"

# lint first: a lint or format error fails `make test` (and so CI) before any test runs
lint: $(STAMP)
	$(BIN)/ruff check sparselab tests tools benchmarks
	$(BIN)/ruff format --check sparselab tests tools benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix sparselab tests tools benchmarks
	$(BIN)/ruff format sparselab tests tools benchmarks

test: lint
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval-lax book/ -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_sparse_linear.py --out _build/benchmarks/sparse_linear.json
	$(BIN)/python benchmarks/bench_recovery.py --out _build/benchmarks/recovery.json
	$(BIN)/python benchmarks/bench_butterfly.py --out _build/benchmarks/butterfly.json

clean:
	rm -rf _build

# Re-resolve the pinned environment from pyproject.toml (torch stays at the exact pinned release).
lock:
	rm -rf _build/lockenv && $(PYTHON) -m venv _build/lockenv
	_build/lockenv/bin/python -m pip install --quiet -e '.[book,test]'
	( echo "# Pinned environment for the book and the tests (pip freeze of a working install; torch pinned to the"; \
	  echo "# exact release so that no newer CUDA build is pulled). Regenerate with: make lock"; \
	  _build/lockenv/bin/python -m pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+.*/torch==\1/' ) > requirements.txt
