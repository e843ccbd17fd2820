"""Kafka for every ECAP service: the topics as code and a protobuf producer.

- `config.KafkaSettings`: where the cluster is (`ECAP_KAFKA_BOOTSTRAP`, or the embedded broker
  on `ECAP_KAFKA_HOST:ECAP_KAFKA_PORT`) and the replication factor of our topics.
- `topics.TOPICS`, `topics.ensure_topics(bootstrap)`, `topics.describe_topics(bootstrap)`.
- `producer.ProtobufProducer`: idempotent, `acks=all`; each `send()` returns a future that
  resolves only once Kafka has acknowledged the record.
"""
