"""Schema evolution: a field added to a proto reaches silver when the job restarts with it.

The protos are copied to a temporary directory, `BehaviorEvent` gains `string referrer = 15`,
and `buf build` makes a new descriptor set from the copy. Events of the old shape go through
the job first; then events carrying the new field (and resends of old ones) are produced and
the job restarts from its checkpoints with `ECAP_LAKE_DESCRIPTOR_SET` pointing at the new set.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Producer
from deltalake import DeltaTable
from google.protobuf import message_factory
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from services.mesh.kafka.producer import ProtobufProducer
from services.mesh.kafka.topics import TOPICS, ensure_topics
from spark.config import REPO_ROOT, SparkSettings
from spark.protobuf import message_descriptor
from spark.streaming.config import LakeSettings
from spark.streaming.job import run
from spark.tables import TABLES
from tests.fixtures.kafka import private_copy
from tests.integration.test_lake_stream import make_events

pytestmark = pytest.mark.integration

STREAMS = ["bronze_user_events", "silver_events", "silver_transaction_sessions"]
NEW_FIELD = "referrer"


def _evolved_descriptor_set(workdir: Path) -> Path:
    """A descriptor set built by buf from a copy of protos/ where BehaviorEvent has a new field."""
    shutil.copytree(
        REPO_ROOT / "protos", workdir / "protos", ignore=shutil.ignore_patterns("*.py*")
    )
    shutil.copy(REPO_ROOT / "buf.yaml", workdir / "buf.yaml")
    common = workdir / "protos" / "ecap" / "v1" / "common.proto"
    text = common.read_text()
    anchor = "  // Where the visitor was.\n  Location location = 14;\n"
    assert text.count(anchor) == 1, "BehaviorEvent changed: update the anchor of this test"
    common.write_text(
        text.replace(
            anchor, anchor + f"  // The referring site, if any.\n  string {NEW_FIELD} = 15;\n"
        )
    )
    out = workdir / "evolved.binpb"
    subprocess.run(
        [
            str(REPO_ROOT / ".venv" / "bin" / "buf"),
            "build",
            "--as-file-descriptor-set",
            "-o",
            str(out),
        ],
        cwd=workdir,
        check=True,
    )
    return out


def test_an_added_field_becomes_a_column_and_the_stream_resumes(
    spark: SparkSession,
    spark_settings: SparkSettings,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    topic = private_copy(next(spec for spec in TOPICS if spec.name == "user-events"))
    ensure_topics(kafka_bootstrap, specs=[topic], replication_factor=1)
    settings = LakeSettings(
        streams=STREAMS,
        topics={"user-events": topic.name},
        kafka_bootstrap=kafka_bootstrap,
        status_path=tmp_path / "status.json",
        spark=spark_settings.model_copy(
            update={"lake_uri": str(tmp_path / "lake"), "checkpoint_uri": None}
        ),
    )
    old_events = make_events(30, seed=301)
    with ProtobufProducer(kafka_bootstrap, client_id="evolution-it") as producer:
        producer.send_many(topic.name, old_events).result(30)
    run(settings, available_now=True, spark=spark)
    silver_uri = TABLES["events"].uri(settings.spark)
    before = DeltaTable(silver_uri)
    old_version, old_history = before.version(), len(before.history())
    checkpoint = Path(settings.spark.checkpoint_location("silver_events"))
    old_commits = {path.name for path in (checkpoint / "commits").iterdir()}

    evolved = _evolved_descriptor_set(tmp_path / "protos-next")
    new_class = message_factory.GetMessageClass(
        message_descriptor("ecap.v1.BehaviorEvent", evolved.read_bytes())
    )
    new_events = []
    for event in make_events(20, seed=302):
        upgraded = new_class.FromString(event.SerializeToString())
        setattr(upgraded, NEW_FIELD, f"https://ref.example/{event.event_id}")
        new_events.append(upgraded)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for event in [*new_events, *old_events[:5]]:  # with resends of old-shape events
        producer.produce(
            topic.name,
            value=event.SerializeToString(),
            key=event.session_id.encode(),
            headers=[("ce_type", b"ecap.v1.BehaviorEvent")],
        )
    assert producer.flush(30) == 0

    run(settings.model_copy(update={"descriptor_set": evolved}), available_now=True, spark=spark)

    silver = spark.read.format("delta").load(silver_uri)
    declared = TABLES["events"].column_names
    assert silver.columns == [*declared, NEW_FIELD]
    expected = spark.createDataFrame(
        [(e.event_id, None) for e in old_events]
        + [(e.event_id, getattr(e, NEW_FIELD)) for e in new_events],
        f"event_id string, {NEW_FIELD} string",
    )
    assertDataFrameEqual(silver.select("event_id", NEW_FIELD), expected)
    assert DeltaTable(silver_uri).to_pyarrow_table().column_names == [*declared, NEW_FIELD]

    # History intact: every earlier version still reads, in its own schema.
    after = DeltaTable(silver_uri)
    assert len(after.history()) > old_history
    old = spark.read.format("delta").option("versionAsOf", old_version).load(silver_uri)
    assert NEW_FIELD not in old.columns
    assert sorted(r.event_id for r in old.select("event_id").collect()) == sorted(
        e.event_id for e in old_events
    )
    # Checkpoints intact: the restart went on from the old batches instead of starting over.
    new_commits = {path.name for path in (checkpoint / "commits").iterdir()}
    assert old_commits < new_commits
    inserted = [
        int(commit["operationMetrics"]["numTargetRowsInserted"])
        for commit in after.history()
        if commit["version"] > old_version and commit["operation"] == "MERGE"
    ]
    assert sum(inserted) == len(new_events)
    # Bronze holds every record once; the downstream stream read through the change.
    bronze = spark.read.format("delta").load(TABLES["bronze_user_events"].uri(settings.spark))
    assert bronze.count() == len(old_events) + len(new_events) + 5
    assert bronze.select("partition", "offset").distinct().count() == bronze.count()
    assert silver.filter(F.col("event_id").isNull()).isEmpty()
