#!/usr/bin/env bash
# `make test`'s suite in two lanes side by side, because most of a twin test's time is JVMs starting and
# waiting, which leaves a core idle. The docker lane runs one test at a time: every Docker twin claims
# the HDInsight subnet 10.0.0.0/24. The local lane spreads its modules over pytest-xdist workers (a module
# stays on one worker, so its module-scoped twin boots once). Each lane runs all its steps in order; every
# line of output names its lane; the exit status is non-zero when any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKERS=${HARNESS_TEST_WORKERS:-2}
LOGS=reports/test-lanes
rm -rf "$LOGS" && mkdir -p "$LOGS"

# Run again on other backends and stacks: the cluster, fault and connector tests and the stock ticker on the
# docker backend over SASL_SSL; the backend-neutral tests on release hdinsight-5.1 (ZooKeeper, Kafka 3.2,
# Spark 3.3) over mutual TLS.
SHARED_TESTS=(tests/test_cluster.py tests/test_spark_read.py tests/test_run.py tests/test_faults.py)
DOCKER_TESTS=(tests/test_cluster.py tests/test_spark_read.py tests/test_faults.py tests/test_run.py::test_stock_ticker_passes_and_reports)

step() {  # lane name, then pytest's arguments
    local lane=$1
    shift
    echo "[$lane] pytest $*"
    # The filter ignores SIGTERM and ends when pytest closes its output: killed with the lanes, it left pytest
    # writing its teardown into a closed pipe, and SIGPIPE ended pytest before it had removed its containers.
    # Each step's output is kept too, so the end of the run can repeat what failed where a CI log's tail shows it.
    "$PY" -m pytest "$@" 2>&1 | (trap '' TERM; exec tee "$LOGS/$lane.log" | sed -u "s/^/[$lane] /")
}

failures() {  # what each failed step's pytest summary named, repeated last because the lanes interleave
    local log
    for log in "$LOGS"/*.log; do
        grep -E '^(FAILED|ERROR) \S+\.py|^(=+ )?([0-9]+ [a-z]+, )*[0-9]+ (failed|errors?)\b.* in [0-9.]+s' "$log" | sed "s/^/[$(basename "$log" .log)] /"
    done
}

docker_lane() {
    local failed=0
    step docker -v -m docker || failed=1  # few tests, each a minute or two: a line per test
    step docker-sasl -v -m "not slow" --harness-backend docker --harness-security sasl_ssl "${DOCKER_TESTS[@]}" || failed=1
    return $failed
}

local_lane() {
    local failed=0
    step local -q -m "not docker" -n "$WORKERS" --dist loadfile || failed=1
    step hdinsight-mtls -q -m "not slow" -n "$WORKERS" --dist loadfile --harness-profile hdinsight --harness-security mtls "${SHARED_TESTS[@]}" || failed=1
    return $failed
}

trap 'trap - TERM; kill -TERM 0; wait' TERM  # a stopped CI job stops both lanes, and pytest tears its twins down
docker_lane &
docker_pid=$!
local_lane &
local_pid=$!
status=0
wait $docker_pid || { status=1; echo "[docker] lane failed"; }
wait $local_pid || { status=1; echo "[local] lane failed"; }
# How long the lanes took, for the benchmark summary's suite figure (`make test` passes this file on).
mkdir -p reports/bench
passed=$([ $status -eq 0 ] && echo true || echo false)
echo "{\"seconds\": $SECONDS, \"workers\": $WORKERS, \"passed\": $passed}" > reports/bench/suite-lanes.json
[ $status -eq 0 ] || { echo "what failed (whole logs in $LOGS/):"; failures; }
echo "test lanes: $((SECONDS / 60)) min $((SECONDS % 60)) s"
exit $status
