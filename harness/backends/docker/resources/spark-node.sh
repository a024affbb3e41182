#!/bin/sh
# Entry point of a Spark node container: a standalone master, a worker, or an idle node (the
# streaming job's driver is started in it later with `docker exec`).
set -e
host="$(hostname -f)"
case "${1:-idle}" in
  master)
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
