"""The scoring rule store on SQLite and on a real PostgreSQL server: CRUD, etags, versions,
seeding, pages and concurrent writers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from services.mesh.errors import Aborted, AlreadyExists, InvalidArgument, NotFound
from services.scoring.rule_store import RuleStore, StoredRule
from services.scoring.rules import DEFAULT_RULES, RuleSpec

pytestmark = pytest.mark.integration


def spec(rule_id: str, expression: str = "tx.amount > 100.0", **fields) -> RuleSpec:
    values = {
        "display_name": rule_id.replace("-", " "),
        "description": f"test rule {rule_id}",
        "action": "REVIEW",
        "reason_code": "TEST",
        "enabled": True,
    }
    return RuleSpec(rule_id=rule_id, expression=expression, **(values | fields))


@pytest.fixture
def store(sql_database_url):
    with RuleStore(sql_database_url) as opened:
        yield opened


def test_create_get_update_delete_with_a_new_version_each_time(store):
    assert store.version() == "v0"

    created = store.create(
        spec("big-card", 'tx.amount > 100.0 && tx.payment_method == "CARD"'), "ann"
    )
    assert isinstance(created, StoredRule)
    assert (created.rules_version, store.version()) == ("v1", "v1")
    assert created.create_time == created.update_time
    assert store.get("big-card") == created

    updated = store.update(
        "big-card", {"expression": "tx.amount > 200.0", "action": "DECLINE"}, created.etag, "bob"
    )
    assert (updated.expression, updated.action, updated.rules_version) == (
        "tx.amount > 200.0",
        "DECLINE",
        "v2",
    )
    assert updated.etag != created.etag
    assert updated.create_time == created.create_time < updated.update_time
    assert store.get("big-card") == updated

    assert store.delete("big-card", updated.etag, "cy") == "v3"
    assert store.version() == "v3"
    with pytest.raises(NotFound, match="big-card"):
        store.get("big-card")

    history = store.history("big-card")
    assert [(r.revision, r.version, r.change, r.actor) for r in history] == [
        (1, "v1", "CREATED", "ann"),
        (2, "v2", "UPDATED", "bob"),
        (3, "v3", "DELETED", "cy"),
    ]
    assert history[1].rule["expression"] == "tx.amount > 200.0"
    assert history[1].rule["etag"] == updated.etag
    assert history[2].rule["action"] == "DECLINE"


def test_a_stale_etag_is_aborted_and_changes_nothing(store):
    first = store.create(spec("r-one"), "ann")
    second = store.update("r-one", {"enabled": False}, first.etag, "bob")

    with pytest.raises(Aborted, match="r-one") as stale:
        store.update("r-one", {"enabled": True}, first.etag, "cy")
    assert stale.value.metadata == {"rule_id": "r-one", "etag": second.etag}
    with pytest.raises(Aborted):
        store.delete("r-one", first.etag, "cy")

    assert store.get("r-one") == second
    assert store.version() == "v2"
    # No etag: last writer wins.
    assert store.update("r-one", {"enabled": True}, None, "cy").enabled is True


def test_bad_writes_are_refused_naming_the_field(store):
    store.create(spec("r-one"), "ann")

    with pytest.raises(AlreadyExists, match="r-one"):
        store.create(spec("r-one"), "ann")
    with pytest.raises(InvalidArgument) as unknown:
        store.update("r-one", {"rule_id": "r-two", "enabled": False}, None, "ann")
    assert "rule_id" in unknown.value.message
    assert unknown.value.violations[0].field == "update_mask"
    with pytest.raises(InvalidArgument) as bad_cel:
        store.update("r-one", {"expression": "tx.amount >"}, None, "ann")
    assert bad_cel.value.violations[0].field == "rule.expression"
    with pytest.raises(InvalidArgument) as bad_create:
        store.create(spec("r-two", "f.no_such_feature > 1.0"), "ann")
    assert bad_create.value.violations[0].rule == "cel.fields"
    with pytest.raises(NotFound, match="r-nine"):
        store.update("r-nine", {"enabled": False}, None, "ann")
    with pytest.raises(NotFound, match="r-nine"):
        store.delete("r-nine", None, "ann")

    assert store.version() == "v1"
    assert len(store.history()) == 1


def test_an_update_that_changes_nothing_writes_nothing(store):
    created = store.create(spec("r-one"), "ann")

    assert store.update("r-one", {"enabled": True}, created.etag, "bob") == created
    assert store.version() == "v1"


def test_seed_creates_the_built_in_rules_once_and_never_again(store):
    assert store.seed(DEFAULT_RULES) is True
    assert store.version() == f"v{len(DEFAULT_RULES)}"
    rules, _ = store.list()
    assert sorted(rule.rule_id for rule in rules) == sorted(s.rule_id for s in DEFAULT_RULES)

    assert store.seed(DEFAULT_RULES) is False
    # Deleting every rule does not make the store "never seeded".
    for rule in rules:
        store.delete(rule.rule_id, rule.etag, "ann")
    assert store.seed(DEFAULT_RULES) is False
    assert store.list() == ([], "")


def test_rule_set_holds_the_enabled_rules_and_the_current_version(store):
    store.seed(DEFAULT_RULES)
    store.update("velocity-1h", {"enabled": False}, None, "ann")

    rules = store.rule_set()

    assert rules.version == store.version() == f"v{len(DEFAULT_RULES) + 1}"
    assert sorted(rule.rule_id for rule in rules.rules) == sorted(
        s.rule_id for s in DEFAULT_RULES if s.rule_id != "velocity-1h"
    )
    assert rules.rules[0].rule_id == "impossible-travel"  # the DECLINE rule first


def test_pages_follow_rule_id_order(store):
    ids = [f"rule-{n:02d}" for n in range(7)]
    for rule_id in reversed(ids):
        store.create(spec(rule_id), "ann")

    seen, token, pages = [], "", 0
    while True:
        page, token = store.list(page_size=3, page_token=token)
        seen += [rule.rule_id for rule in page]
        pages += 1
        if not token:
            break
    assert (seen, pages) == (ids, 3)
    assert [r.rule_id for r in store.list()[0]] == ids

    with pytest.raises(InvalidArgument) as bad:
        store.list(page_token="not-a-token")
    assert bad.value.violations[0].field == "page_token"
    with pytest.raises(InvalidArgument):
        store.list(page_size=501)


def test_concurrent_writers_get_distinct_gapless_revisions(sql_database_url):
    writers, per_writer = 6, 5
    stores = [RuleStore(sql_database_url) for _ in range(2)]  # two "processes" share the DB
    start = threading.Barrier(writers)

    def write(n: int) -> list[str]:
        store = stores[n % 2]
        start.wait()
        versions = []
        for k in range(per_writer):
            rule = store.create(spec(f"w{n}-r{k}"), f"writer-{n}")
            versions.append(rule.rules_version)
            versions.append(
                store.update(rule.rule_id, {"enabled": False}, rule.etag, "x").rules_version
            )
        return versions

    try:
        with ThreadPoolExecutor(writers) as pool:
            versions = [v for result in pool.map(write, range(writers)) for v in result]
        total = writers * per_writer * 2
        assert sorted(versions, key=lambda v: int(v[1:])) == [f"v{n}" for n in range(1, total + 1)]
        history = stores[0].history()
        assert [r.revision for r in history] == list(range(1, total + 1))
        assert stores[1].version() == f"v{total}"
        assert len(stores[0].list(page_size=500)[0]) == writers * per_writer
    finally:
        for store in stores:
            store.close()


def test_the_tables_are_created_once_and_reopening_keeps_the_rules(sql_database_url):
    with RuleStore(sql_database_url) as first:
        first.create(spec("kept"), "ann")
    with RuleStore(sql_database_url) as again:
        assert again.get("kept").rules_version == "v1"
        assert again.seed(DEFAULT_RULES) is False
    engine = sa.create_engine(sql_database_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"scoring_rules", "scoring_rule_revisions"} <= tables
