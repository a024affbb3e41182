"""Spark 3.3's Python workers do not run on Python 3.11: a job that needs them is refused before it starts,
with where it needs them; a job of DataFrame expressions (the sample's) is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.jobs.python_workers import python_sources, require_workers_fit, worker_calls
from harness.versions import release

REPO = Path(__file__).resolve().parents[2]

UDF_APP = '''
from pyspark.sql import functions as F
from pyspark.sql.functions import udf, pandas_udf

@udf("string")
def shout(s):
    return s.upper()

double = F.udf(lambda x: x * 2, "double")
spark.udf.register("tripled", lambda x: x * 3)
frame.groupBy("k").applyInPandas(lambda pdf: pdf, "k string")
frame.rdd.map(lambda row: row).count()
frame.rdd.getNumPartitions()
query = frame.writeStream.foreachBatch(lambda df, i: df.count())
'''


def test_every_call_that_runs_python_in_the_executors_is_found_with_its_line() -> None:
    calls = [(c.name, c.line) for c in worker_calls(UDF_APP, "app.py")]
    assert calls == [("udf", 5), ("udf", 9), ("udf.register", 10), ("applyInPandas", 11), ("rdd.map", 12)]
    # an import alone runs nothing; foreachBatch runs in the driver and getNumPartitions runs no Python


def test_a_udf_job_is_refused_on_spark_33_with_this_python_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"job\.application\.file: the job runs Python in Spark's Python workers \(udf \(app\.py, line 5\)") as refused:
        require_workers_fit(release("hdinsight-5.1"), [("app.py", UDF_APP)], "job.application.file", python=(3, 11))
    text = str(refused.value)
    assert "only on Python 3.10 or older" in text and "code() argument 13" in text and "--backend docker" in text


def test_the_same_job_runs_where_the_python_fits_and_on_the_current_release() -> None:
    require_workers_fit(release("hdinsight-5.1"), [("app.py", UDF_APP)], "job", python=(3, 9))  # bullseye's Python
    require_workers_fit(release("current"), [("app.py", UDF_APP)], "job", python=(3, 11))


def test_the_shipped_python_application_needs_no_python_workers() -> None:
    sources = python_sources([REPO / "examples" / "apps" / "stock_windows_app.py"])
    assert sources and not [c for name, code in sources for c in worker_calls(code, name)]
    require_workers_fit(release("hdinsight-5.1"), sources, "job", python=(3, 11))


def test_a_user_job_module_is_read_alone_not_the_package_it_ships_with() -> None:
    """`tests.user_jobs.average_job` ships with the whole `tests` package, which holds a udf application too;
    only the job's own module decides whether it needs Python workers."""
    from harness.jobs.python_workers import job_python_sources
    from harness.jobs.spec import JobSpec

    job = JobSpec(name="tests.user_jobs.average_job:average_prices")
    assert [Path(name).name for name, _ in job_python_sources(job)] == ["average_job.py"]
    require_workers_fit(release("hdinsight-5.1"), job_python_sources(job), "job", python=(3, 11))
    assert worker_calls((REPO / "tests" / "user_jobs" / "udf_app.py").read_text(), "udf_app.py")  # the neighbour that would be refused
