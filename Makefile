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

# The whole suite (Docker tests included) on `dev` (release current); the cluster, fault and connector
# tests and the stock ticker again on the docker backend over SASL_SSL (plaintext docker twins are in the
# suite); the backend-neutral tests on release hdinsight-5.1 (the `hdinsight` profile's: ZooKeeper,
# Kafka 3.2, Spark 3.3) over mutual TLS; then the quick benchmarks. scripts/ensure-docker.sh installs and starts an engine.
SHARED_TESTS := tests/test_cluster.py tests/test_spark_read.py tests/test_run.py tests/test_faults.py
DOCKER_TESTS := tests/test_cluster.py tests/test_spark_read.py tests/test_faults.py tests/test_run.py::test_stock_ticker_passes_and_reports

test: setup docker-engine
	$(PY) -m pytest
	$(PY) -m pytest -q -m "not slow" --harness-backend docker --harness-security sasl_ssl $(DOCKER_TESTS)
	$(PY) -m pytest -q -m "not slow" --harness-profile hdinsight --harness-security mtls $(SHARED_TESTS)
	HARNESS_BENCH_QUICK=1 $(PY) -m pytest benchmarks --benchmark-only -q

docker-engine:
	@bash scripts/ensure-docker.sh

# The Scala example application's jar, for scenarios/stock-ticker-scala-app.yaml (Maven fetches about 60 MB once).
scala-example:
	mvn -q -B -f examples/apps/scala/stock-windows/pom.xml package

test-quick: setup
	$(PY) -m pytest -m "not slow"

bench: setup
	$(VENV)/bin/tox -e bench

clean:
	-$(PY) -m harness down --all
	rm -rf $(VENV) .tox .pytest_cache .benchmarks reports
