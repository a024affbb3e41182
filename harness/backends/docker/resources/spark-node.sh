#!/bin/sh
# Entry point of a Spark node container: a standalone master (with the Livy batch server beside it on
# the head node), a worker, or an idle node (the streaming job's driver and submitted applications are
# started on the head node later with `docker exec`).
set -e
host="$(hostname -f)"
# The twin's Spark JVMs live minutes on few shared cores, like its Kafka JVMs: the image's HARNESS_JVM_OPTIONS
# (C1 only: C2's compiler threads would compete with the job), and the image's class archive (trained when the image was built). Drivers and
# executors get the same from the image's SPARK_SUBMIT_OPTS; a job's own extraJavaOptions add to them.
export SPARK_DAEMON_JAVA_OPTS="$HARNESS_JVM_OPTIONS -XX:SharedArchiveFile=$SPARK_CLASS_ARCHIVE ${SPARK_DAEMON_JAVA_OPTS:-}"
case "${1:-idle}" in
  master)
    if [ -n "${LIVY_PORT:-}" ]; then
      # Livy's batch REST API, as on HDInsight's head node; it goes when the master (and so the node) stops.
      python3 -m harness.jobs.livy &
    fi
    exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master --host "$host" --port 7077 --webui-port 8080
    ;;
  worker)
    exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "$SPARK_MASTER_URL" --host "$host" \
      --webui-port 8081 --cores "${SPARK_WORKER_CORES:-1}" --memory "${SPARK_WORKER_MEMORY:-1g}" --work-dir /var/lib/spark
    ;;
  idle)
    trap 'exit 0' TERM INT
    while :; do sleep 3600 & wait $!; done
    ;;
  *)
    exec "$@"
    ;;
esac
