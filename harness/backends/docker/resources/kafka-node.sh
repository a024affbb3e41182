#!/bin/sh
# Entry point of a Kafka node container. The harness (or a compose file) passes the node's whole
# server.properties in KAFKA_SERVER_PROPERTIES and the cluster id in KAFKA_CLUSTER_ID, so a node is
# configured the same way on every backend. KRaft storage is formatted once per data volume; a
# ZooKeeper release's brokers need no formatting. A ZooKeeper server gets its zoo.cfg in
# ZOOKEEPER_PROPERTIES and its id in ZOOKEEPER_MYID. The image sets KAFKA_LOG_OPTS for its logging.
set -e
case "${1:-kafka}" in
  kafka)
    shift || true
    printf '%s\n' "$KAFKA_SERVER_PROPERTIES" > /etc/kafka/server.properties
    if grep -q '^process.roles=' /etc/kafka/server.properties && [ ! -f /var/lib/kafka/data/meta.properties ]; then
      java -Xmx256m $KAFKA_TOOLS_LOG_OPTS -cp "/opt/kafka/libs/*" \
        kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c /etc/kafka/server.properties
    fi
    exec java ${KAFKA_HEAP_OPTS:--Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true $KAFKA_LOG_OPTS -cp "/opt/kafka/libs/*" kafka.Kafka /etc/kafka/server.properties
    ;;
  zookeeper)
    printf '%s\n' "$ZOOKEEPER_PROPERTIES" > /etc/kafka/zookeeper.properties
    printf '%s\n' "$ZOOKEEPER_MYID" > /var/lib/kafka/data/myid
    exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true $KAFKA_LOG_OPTS \
      -cp "/opt/kafka/libs/*" org.apache.zookeeper.server.quorum.QuorumPeerMain /etc/kafka/zookeeper.properties
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
