"""Kafka for every ECAP service: the topics as code and a protobuf producer.

- `config.KafkaSettings`: where the cluster is (`ECAP_KAFKA_BOOTSTRAP`, or the embedded broker
  on `ECAP_KAFKA_HOST:ECAP_KAFKA_PORT`) and the replication factor of our topics.
- `topics.TOPICS`, `topics.ensure_topics(bootstrap)`, `topics.describe_topics(bootstrap)`.
- `producer.ProtobufProducer`: idempotent, `acks=all`; `send()` returns a future per record
  and `send_many()` one per batch, resolved only once Kafka has acknowledged the records.
  `record_key`, `record_headers` and `producer_config` hold the rules for other producers.
"""
