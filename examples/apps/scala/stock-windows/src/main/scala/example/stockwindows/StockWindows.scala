package example.stockwindows

import org.apache.spark.sql.{DataFrame, SparkSession}
import org.apache.spark.sql.functions._
import org.apache.spark.sql.streaming.Trigger

/** A team's streaming application, as it would be submitted to HDInsight's Spark cluster with spark-submit.
  *
  * It knows nothing of the harness: it reads the stock ticker from Kafka, computes the high, low, count and
  * prices per symbol and 4-second window (with a 30-second watermark), and writes each window as one JSON
  * value to a Kafka output topic. It computes exactly what examples/apps/stock_windows_app.py computes.
  *
  * {{{
  * spark-submit --class example.stockwindows.StockWindows stock-windows.jar --bootstrap wn0-kafka:9092 \
  *     --topic stockVals --output-topic stockWindows --checkpoint /checkpoints/stock-windows
  * }}}
  *
  * `--wrong` makes it a deliberately wrong variant (it drops every MSFT tick), to show a failing run.
  */
object StockWindows {
  val TickSchema = "symbol string, time long, price double, size int"

  /** The command line, as the PySpark application's argparse reads it. */
  final case class Args(bootstrap: String, topic: String, outputTopic: String, checkpoint: String, mode: String, wrong: Boolean)

  private val Usage =
    "usage: StockWindows --bootstrap B --topic T --output-topic O --checkpoint DIR [--mode append|update] [--wrong]"

  def main(argv: Array[String]): Unit = {
    val args = parseArgs(argv.toList) match {
      case Right(parsed) => parsed
      case Left(error) =>
        System.err.println(s"$Usage\nerror: $error")
        sys.exit(2)
    }
    val spark = SparkSession.builder().appName("stock-windows").getOrCreate()
    val query = windows(ticks(spark, args), args.wrong)
      .select(col("symbol").alias("key"), to_json(struct("symbol", "window", "high", "low", "count", "prices")).alias("value"))
      .writeStream.format("kafka").option("kafka.bootstrap.servers", args.bootstrap).option("topic", args.outputTopic)
      .option("checkpointLocation", args.checkpoint).outputMode(args.mode).trigger(Trigger.ProcessingTime("500 milliseconds"))
      .start()
    query.awaitTermination()
  }

  /** The ticks on the input topic, parsed from their JSON values; a value that does not parse is dropped. */
  def ticks(spark: SparkSession, args: Args): DataFrame =
    spark.readStream.format("kafka").option("kafka.bootstrap.servers", args.bootstrap).option("subscribe", args.topic)
      .option("startingOffsets", "earliest").option("failOnDataLoss", "true").load()
      .select(from_json(col("value").cast("string"), TickSchema, Map.empty[String, String]).alias("tick")).select("tick.*")
      .where(col("symbol").isNotNull && col("time").isNotNull && col("price").isNotNull)

  /** High, low, count and prices per symbol and 4-second event-time window, with a 30-second watermark. */
  def windows(ticks: DataFrame, wrong: Boolean): DataFrame = {
    val kept = if (wrong) ticks.where(col("symbol") =!= "MSFT") else ticks
    kept.withColumn("event_time", timestamp_seconds(floor(col("time") / 1000)))
      .withWatermark("event_time", "30 seconds")
      .groupBy(window(col("event_time"), "4 seconds").alias("window"), col("symbol"))
      .agg(max("price").alias("high"), min("price").alias("low"), count(lit(1)).alias("count"), collect_list("price").alias("prices"))
  }

  /** `--name value` options and the `--wrong` flag; every required option present, `--mode` append or update. */
  def parseArgs(argv: List[String]): Either[String, Args] = {
    val required = List("--bootstrap", "--topic", "--output-topic", "--checkpoint")
    val options = required :+ "--mode"

    def collect(rest: List[String], seen: Map[String, String], wrong: Boolean): Either[String, (Map[String, String], Boolean)] =
      rest match {
        case Nil => Right((seen, wrong))
        case "--wrong" :: tail => collect(tail, seen, wrong = true)
        case name :: value :: tail if options.contains(name) && !value.startsWith("--") => collect(tail, seen + (name -> value), wrong)
        case name :: _ if options.contains(name) => Left(s"argument $name: expected one argument")
        case other :: _ => Left(s"unrecognized argument: $other")
      }

    collect(argv, Map.empty, wrong = false).flatMap { case (seen, wrong) =>
      val missing = required.filterNot(seen.contains)
      val mode = seen.getOrElse("--mode", "append")
      if (missing.nonEmpty) Left(s"the following arguments are required: ${missing.mkString(", ")}")
      else if (!Set("append", "update").contains(mode)) Left(s"argument --mode: invalid choice: '$mode' (choose from 'append', 'update')")
      else Right(Args(seen("--bootstrap"), seen("--topic"), seen("--output-topic"), seen("--checkpoint"), mode, wrong))
    }
  }
}
