# Two commands do all the set-up on a fresh machine with Python 3.11+, Java 17+ and Maven:
#   make demo   - the main job on the embedded default twin
#   make test   - the whole test suite and the quick benchmarks (what CI runs)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup demo test test-quick bench clean docker-engine scala-example

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	$(PY) -m harness fetch
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

demo: setup
	$(PY) -m harness run scenarios/stock-ticker.yaml --report reports/stock-ticker.json

# The whole suite (Docker tests included) on `dev` (release current), then again on other backends and
# stacks (SASL_SSL docker twins; release hdinsight-5.1 over mutual TLS), in two lanes side by side
# (scripts/test-lanes.sh says which); then the quick benchmarks alone, so nothing else shares their cores.
# scripts/ensure-docker.sh installs and starts an engine.
test: setup docker-engine
	PY=$(PY) bash scripts/test-lanes.sh
	HARNESS_BENCH_QUICK=1 HARNESS_SUITE_LANES=reports/bench/suite-lanes.json $(PY) -m pytest benchmarks --benchmark-only -q

docker-engine:
	@bash scripts/ensure-docker.sh

# The Scala example application's jar, for scenarios/stock-ticker-scala-app.yaml (Maven fetches about 60 MB once).
scala-example:
	mvn -q -B -f examples/apps/scala/stock-windows/pom.xml package

test-quick: setup
	$(PY) -m pytest -m "not slow" -n 2 --dist loadfile

bench: setup
	$(VENV)/bin/tox -e bench

clean:
	-$(PY) -m harness down --all
	rm -rf $(VENV) .tox .pytest_cache .benchmarks reports
