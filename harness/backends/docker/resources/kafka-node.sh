#!/bin/sh
# Entry point of a Kafka node container. The harness (or a compose file) passes the node's whole
# server.properties in KAFKA_SERVER_PROPERTIES and the cluster id in KAFKA_CLUSTER_ID, so a node is
# configured the same way on every backend. Storage is formatted once per data volume.
set -e
case "${1:-kafka}" in
  kafka)
    shift || true
    printf '%s\n' "$KAFKA_SERVER_PROPERTIES" > /etc/kafka/server.properties
    if [ ! -f /var/lib/kafka/data/meta.properties ]; then
      java -Xmx256m -Dlog4j2.configurationFile=/opt/kafka/config/log4j2-tools.properties -cp "/opt/kafka/libs/*" \
        kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c /etc/kafka/server.properties
    fi
    exec java ${KAFKA_HEAP_OPTS:--Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
      -cp "/opt/kafka/libs/*" kafka.Kafka /etc/kafka/server.properties
    ;;
  ambari)
    exec python3 /opt/harness/ambari_server.py
    ;;
  idle)
    # A node that runs nothing yet still has its name and address, as an idle head node does.
    trap 'exit 0' TERM INT
    while :; do sleep 3600 & wait $!; done
    ;;
  *)
    exec "$@"
    ;;
esac
