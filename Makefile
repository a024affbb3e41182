# Two commands do all the set-up on a fresh machine with Python 3.11+, Java 17+ and Maven:
#   make demo   - the main job on the embedded default twin
#   make test   - the whole test suite and the quick benchmarks (what CI runs)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup demo test test-quick bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	$(PY) -m harness fetch
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

demo: setup
	$(PY) -m harness run scenarios/stock-ticker.yaml --report reports/stock-ticker.json

test: setup
	$(PY) -m pytest
	HARNESS_BENCH_QUICK=1 $(PY) -m pytest benchmarks --benchmark-only -q

test-quick: setup
	$(PY) -m pytest -m "not slow"

bench: setup
	$(VENV)/bin/tox -e bench

clean:
	-$(PY) -m harness down --all
	rm -rf $(VENV) .tox .pytest_cache .benchmarks reports
