"""Spark sessions wired to a running deployment through the real spark-sql-kafka connector."""

from harness.spark.session import harness_conf, spark_env, spark_session, spark_submit, stop_spark

__all__ = ["harness_conf", "spark_env", "spark_session", "spark_submit", "stop_spark"]
