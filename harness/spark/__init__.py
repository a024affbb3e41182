"""Spark sessions wired to a running deployment through the real spark-sql-kafka connector."""

from harness.spark.session import spark_session, stop_spark

__all__ = ["spark_session", "stop_spark"]
