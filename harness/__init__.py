"""kafka-spark-harness: a local twin of an HDInsight Kafka + Spark Structured Streaming deployment."""

from harness.errors import HarnessError

__all__ = ["HarnessError"]
__version__ = "0.1.0"
