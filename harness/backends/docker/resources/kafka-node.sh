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
    chmod 600 /etc/kafka/server.properties
    # A SASL twin's SCRAM users (KAFKA_SCRAM_USERS: SCRAM-SHA-512=[name=..,password=..] words): KRaft keeps them in
    # the metadata the formatter writes; on ZooKeeper Kafka 3.2's kafka-configs writes them there, retried until the
    # ensemble answers (the command's own success is the fact waited on), before the broker starts.
    set --
    for user in ${KAFKA_SCRAM_USERS:-}; do set -- "$@" --add-scram "$user"; done
    if grep -q '^process.roles=' /etc/kafka/server.properties; then
      if [ ! -f /var/lib/kafka/data/meta.properties ]; then
        java -Xmx256m $KAFKA_TOOLS_LOG_OPTS -cp "/opt/kafka/libs/*" \
          kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c /etc/kafka/server.properties "$@"
      fi
    elif [ -n "${KAFKA_SCRAM_USERS:-}" ] && [ ! -f /var/lib/kafka/data/.scram-users-added ]; then  # once per data volume
      ensemble=$(sed -n 's/^zookeeper.connect=//p' /etc/kafka/server.properties)
      for user in $KAFKA_SCRAM_USERS; do
        name=$(printf '%s' "$user" | sed 's/.*name=\([^,]*\),.*/\1/')
        config=$(printf '%s' "$user" | sed 's/\[name=[^,]*,/[iterations=4096,/')
        tries=0
        until java -Xmx256m $KAFKA_TOOLS_LOG_OPTS -cp "/opt/kafka/libs/*" kafka.admin.ConfigCommand --zookeeper "$ensemble" \
            --alter --add-config "$config" --entity-type users --entity-name "$name" >/dev/null 2>&1; do
          tries=$((tries + 1))
          [ "$tries" -lt 60 ] || { echo "kafka-node: could not add SCRAM user $name to ZooKeeper at $ensemble" >&2; exit 1; }
          sleep 1
        done
      done
      touch /var/lib/kafka/data/.scram-users-added
    fi
    # C1 only, as on the local backend: short-lived JVMs sharing few cores (harness.backends.kafka_node.jvm_command)
    exec java ${KAFKA_HEAP_OPTS:--Xmx512m} -XX:TieredStopAtLevel=1 -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true $KAFKA_LOG_OPTS -cp "/opt/kafka/libs/*" kafka.Kafka /etc/kafka/server.properties
    ;;
  zookeeper)
    printf '%s\n' "$ZOOKEEPER_PROPERTIES" > /etc/kafka/zookeeper.properties
    printf '%s\n' "$ZOOKEEPER_MYID" > /var/lib/kafka/data/myid
    exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:TieredStopAtLevel=1 -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true $KAFKA_LOG_OPTS \
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
