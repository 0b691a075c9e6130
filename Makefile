# Two commands for a fresh machine: `make book` and `make test`. Each creates/updates .venv
# and installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= emoji-tiny
# The paper profile's data folder (imagenet/, ood/, shift/; see data/README.md)
DATA_ROOT ?=

.PHONY: all venv system-deps test book lab publish bench lint clean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	# torch==2.14.1 / torchvision==0.29.1 (pinned in pyproject.toml) come from the local wheel store where one exists
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,book]'
	@touch $@

venv: $(STAMP)

# System packages: WordNet 3.0 (the candidate corpus), npm (fetches the emoji packages),
# libcairo2 (rasterises their SVGs) and Chromium (the book's browser check). Debian's packages where apt-get is available as root;
# otherwise WordNet from nltk's downloader, and a clear message for the other two.
APT_NEEDED = $(strip \
	$(if $(wildcard /usr/share/wordnet/data.noun),,wordnet-base) \
	$(if $(shell command -v npm),,npm) \
	$(if $(shell ldconfig -p 2>/dev/null | grep -q 'libcairo.so.2' && echo yes),,libcairo2) \
	$(if $(wildcard /usr/bin/chromium),,chromium))

system-deps: venv
	@if [ -n "$(APT_NEEDED)" ]; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			echo "installing system packages: $(APT_NEEDED)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_NEEDED) >/dev/null; \
		else \
			echo "missing system packages: $(APT_NEEDED) (install them with your package manager)"; \
			$(PY) -c "import nltk; nltk.data.find('corpora/wordnet')" 2>/dev/null || $(PY) -m nltk.downloader -q wordnet; \
		fi; \
	fi

test: system-deps
	$(PY) -m pytest

bench: system-deps
	$(PY) benchmarks/scores_bench.py
	$(PY) benchmarks/negmining_bench.py
	$(PY) benchmarks/text_embed_bench.py

lint: venv
	$(PY) -m ruff check neglabel_core tests benchmarks

# The book on a profile (default: the embedded emoji-tiny): data, model training, embeddings
# (all cached), papermill (notebooks whose code, parameters and inputs are unchanged are not run
# again), Jupyter Book (-W), browser check. `make book PROFILE=imagenet-clip DATA_ROOT=/data` switches.
book: system-deps
	$(VENV)/bin/neglabel book --profile $(PROFILE) $(if $(DATA_ROOT),--data-root $(DATA_ROOT))

# The notebooks live in JupyterLab, in the project's environment (the explorer's sliders work there).
lab: system-deps
	$(VENV)/bin/jupyter lab notebooks/

# Publish the built HTML to the gh-pages branch (and push it to origin).
publish:
	@test -f book/_build/html/index.html || { echo "no built book: run make book first"; exit 2; }
	$(VENV)/bin/ghp-import --no-jekyll --push --force book/_build/html

clean:
	rm -rf $(VENV) book/_build book/*.ipynb book/*.csv book/_vendor .pytest_cache
