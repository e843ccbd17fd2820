"""The scoring service's CEL rules: checks on write, evaluation, hit order, built-in rules."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

import cel
import pytest

from ecap.v1 import common_pb2
from models.features.fraud import fraud_features
from models.features.online import replay
from services.mesh.errors import InvalidArgument
from services.scoring.rows import feature_row, rule_context, rule_context_from_row
from services.scoring.rule_test import feature_history, features_read
from services.scoring.rules import (
    DEFAULT_RULES,
    FEATURE_NAMES,
    SAMPLE_TX,
    RuleSet,
    RuleSpec,
    compile_rule,
    field_reads,
)


def spec(expression: str, **fields) -> RuleSpec:
    values = {
        "rule_id": "draft",
        "display_name": "Draft",
        "description": "a rule under test",
        "expression": expression,
        "action": "REVIEW",
        "reason_code": "DRAFT",
        "enabled": True,
    }
    return RuleSpec(**(values | fields))


def rejection(expression: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        compile_rule(spec(expression))
    return caught.value


def a_transaction(**changes) -> common_pb2.Transaction:
    tx = common_pb2.Transaction(
        transaction_id="t-1",
        customer_id="c-1",
        merchant_id="m-1",
        payment_method=common_pb2.PAYMENT_METHOD_CARD,
        channel=common_pb2.CHANNEL_DIRECT,
        card_fingerprint="card-1",
        ip_address="198.51.100.7",
    )
    tx.amount.amount_minor = 12_345
    tx.amount.currency = "EUR"
    tx.device.device_id = "d-1"
    tx.location.country = "FR"
    tx.location.point.latitude = 48.85
    tx.location.point.longitude = 2.35
    tx.occurred_at.FromSeconds(1_760_000_000)
    tx.items.add(product_id="p-1", quantity=1)
    for name, value in changes.items():
        setattr(tx, name, value)
    return tx


# -- checks on write ---------------------------------------------------------------------------


def test_a_parse_error_names_the_field_and_carries_the_parse_error():
    expression = "tx.amount >"
    with pytest.raises(ValueError) as parse:
        cel.compile(expression)

    error = rejection(expression)

    assert error.message.startswith("rule.expression: ")
    [violation] = error.violations
    assert (violation.field, violation.rule) == ("rule.expression", "cel.compile")
    assert str(parse.value) in violation.description
    assert "Syntax error" in violation.description


def test_unknown_variables_are_rejected_and_named():
    error = rejection("amount > 100.0 && tx.amount > 1.0")

    [violation] = error.violations
    assert (violation.field, violation.rule) == ("rule.expression", "cel.variables")
    assert "amount" in violation.description and "tx" in violation.description


def test_names_bound_by_a_comprehension_are_not_unknown_variables():
    rule = compile_rule(spec("[10.0, 20.0].exists(limit, tx.amount > limit)"))

    outcome = RuleSet("v1", (rule,)).evaluate(dict(SAMPLE_TX) | {"amount": 15.0}, {})
    assert [hit.rule_id for hit in outcome.hits] == ["draft"]


def test_an_unknown_feature_is_rejected_with_a_suggestion_even_behind_a_short_circuit():
    error = rejection("false && f.card_count_1hr >= 3.0")

    [violation] = error.violations
    assert violation.rule == "cel.fields"
    assert "card_count_1hr" in violation.description
    assert "card_count_1h" in violation.description.split("did you mean", 1)[1]


def test_an_unknown_transaction_field_is_rejected():
    assert rejection('tx.merchant == "m-1"').violations[0].rule == "cel.fields"
    assert rejection('tx["merchant"] == "m-1"').violations[0].rule == "cel.fields"


def test_a_field_name_inside_a_string_literal_is_not_a_field():
    compile_rule(spec('tx.country == "f.nothing" || tx.channel == "tx.nothing"'))


def test_a_non_bool_result_is_rejected():
    for expression in ("tx.amount * 2.0", 'tx.currency + "x"'):
        [violation] = rejection(expression).violations
        assert violation.rule == "cel.bool"
        assert "bool" in violation.description


def test_a_type_error_on_the_sample_transaction_is_rejected():
    # CEL does not mix int and double in arithmetic (comparisons across them are fine).
    [violation] = rejection("tx.amount + 1 > 2.0").violations
    assert violation.rule == "cel.types"
    assert "TypeError" in violation.description
    compile_rule(spec("tx.amount > 5 && tx.amount_minor > 500.0"))


def test_bad_fields_are_all_listed():
    with pytest.raises(InvalidArgument) as caught:
        compile_rule(
            spec("tx.amount > 1.0", rule_id="Card Testing", action="BLOCK", reason_code="x")
        )

    fields = {violation.field for violation in caught.value.violations}
    assert fields == {"rule.rule_id", "rule.action", "rule.reason_code"}


# -- evaluation --------------------------------------------------------------------------------


def test_a_feature_without_a_value_does_not_fire_and_is_no_error():
    rules = RuleSet("v1", (compile_rule(spec("f.amount_to_customer_mean_30d >= 3.0")),))

    for missing in (
        {},
        {"amount_to_customer_mean_30d": None},
        {"amount_to_customer_mean_30d": math.nan},
    ):
        outcome = rules.evaluate(dict(SAMPLE_TX), missing)
        assert (outcome.hits, outcome.errors) == ([], 0)
    assert rules.evaluate(dict(SAMPLE_TX), {"amount_to_customer_mean_30d": 4.0}).hits


def test_has_tells_whether_a_feature_has_a_value():
    rules = RuleSet("v1", (compile_rule(spec("!has(f.amount_to_customer_mean_30d)")),))

    assert rules.evaluate(dict(SAMPLE_TX), {"amount_to_customer_mean_30d": None}).hits
    assert not rules.evaluate(dict(SAMPLE_TX), {"amount_to_customer_mean_30d": 1.0}).hits


def test_other_evaluation_failures_do_not_fire_and_are_counted():
    failing = compile_rule(spec("tx.amount_minor / tx.item_count > 100", rule_id="per-item"))
    firing = compile_rule(spec("tx.amount > 1.0", rule_id="any-amount"))
    rules = RuleSet("v1", (failing, firing))

    outcome = rules.evaluate(dict(SAMPLE_TX) | {"item_count": 0}, {})

    assert [hit.rule_id for hit in outcome.hits] == ["any-amount"]
    assert (outcome.errors, outcome.failed) == (1, ["per-item"])


def test_hits_are_ordered_decline_review_allow_then_by_rule_id_and_disabled_rules_do_not_run():
    specs = [
        spec("true", rule_id="z-allow", action="ALLOW", reason_code="Z"),
        spec("true", rule_id="m-review", action="REVIEW", reason_code="M"),
        spec("true", rule_id="y-decline", action="DECLINE", reason_code="Y"),
        spec("true", rule_id="a-allow", action="ALLOW", reason_code="A"),
        spec("true", rule_id="b-review", action="REVIEW", reason_code="B"),
        spec("true", rule_id="c-off", action="DECLINE", reason_code="C", enabled=False),
    ]
    rules = RuleSet.from_specs("v7", specs)

    hits = rules.evaluate(dict(SAMPLE_TX), {}).hits

    assert [(h.rule_id, h.action, h.reason_code) for h in hits] == [
        ("y-decline", "DECLINE", "Y"),
        ("b-review", "REVIEW", "B"),
        ("m-review", "REVIEW", "M"),
        ("a-allow", "ALLOW", "A"),
        ("z-allow", "ALLOW", "Z"),
    ]
    assert hits[0].description == "a rule under test"
    assert len(rules) == 5 and rules.version == "v7"


def test_a_rule_set_is_immutable():
    rules = RuleSet.from_specs("v1", DEFAULT_RULES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.rules = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.rules[0].spec.expression = "true"  # type: ignore[misc]


def test_the_context_holds_what_the_rules_read_unless_one_reads_a_whole_map():
    assert field_reads('has(f.new_ip) && tx.country == "f.x"') == {
        "tx": frozenset({"country"}),
        "f": frozenset({"new_ip"}),
    }
    assert field_reads('"new_ip" in f')["f"] is None
    assert field_reads("size(tx) > 3")["tx"] is None
    dotted = compile_rule(spec("f.new_ip == 1.0", rule_id="dotted"))
    whole = compile_rule(spec('f["card_count_1h"] >= 3.0', rule_id="whole"))
    features = {"new_ip": 0.0, "card_count_1h": 4.0}

    assert RuleSet("v1", (dotted,)).reads_f == ("new_ip",)
    both = RuleSet("v1", (dotted, whole))
    assert both.reads_f is None
    assert [hit.rule_id for hit in both.evaluate(dict(SAMPLE_TX), features).hits] == ["whole"]


# -- what `tx` holds ---------------------------------------------------------------------------


def test_the_sample_transaction_has_the_fields_and_types_of_a_real_one():
    tx = a_transaction()
    context = rule_context(tx, feature_row(tx))

    assert list(context) == list(SAMPLE_TX)
    assert {k: type(v) for k, v in context.items()} == {k: type(v) for k, v in SAMPLE_TX.items()}


def test_a_lake_row_gives_the_same_tx_as_the_transaction_it_came_from():
    tx = a_transaction()
    row = feature_row(tx)

    lake_row = row | {"amount_minor": tx.amount.amount_minor, "currency": tx.amount.currency}
    assert rule_context_from_row(lake_row) == rule_context(tx, row)
    # Without them (the lake's feature rows so far): hundredths of the amount, no currency.
    assert rule_context_from_row(row) == rule_context(tx, row) | {"currency": ""}


def test_absent_values_of_a_lake_row_become_empty_strings_and_zero_items():
    row = {
        "transaction_id": "t-2",
        "customer_id": "c-2",
        "merchant_id": "m-2",
        "amount": 3.5,
        "payment_method": None,
        "channel": math.nan,
        "device_id": None,
        "item_count": math.nan,
    }
    context = rule_context_from_row(row)

    assert context["payment_method"] == context["channel"] == context["device_id"] == ""
    assert (context["item_count"], context["amount_minor"]) == (0, 350)


# -- built-in rules ----------------------------------------------------------------------------

# An established customer buying as usual: every feature present, nothing unusual.
BENIGN_FEATURES = dict.fromkeys(FEATURE_NAMES, 0.0) | {
    "amount": 42.5,
    "customer_count_1h": 0.0,
    "customer_count_30d": 6.0,
    "customer_amount_mean_30d": 40.0,
    "amount_to_customer_mean_30d": 1.06,
    "seconds_since_last_transaction": 3 * 86_400.0,
    "km_from_last_location": 2.0,
    "kmh_from_last_location": 0.03,
    "card_count_1h": 0.0,
    "card_count_1d": 1.0,
}
TRIGGERS = {
    "card-testing": ({"amount": 4.99}, {"card_count_1h": 6.0, "customer_count_1h": 3.0}),
    "impossible-travel": (
        {},
        {"km_from_last_location": 8_400.0, "kmh_from_last_location": 12_600.0},
    ),
    "account-takeover": (
        {"amount": 640.0},
        {"new_device": 1.0, "new_country": 1.0, "new_ip": 1.0, "amount_to_customer_mean_30d": 16.0},
    ),
    "high-amount": ({"amount": 2_400.0}, {"amount_to_customer_mean_30d": 60.0}),
    "velocity-1h": ({}, {"customer_count_1h": 7.0}),
}


def test_every_built_in_rule_has_a_trigger_here():
    assert {rule.rule_id for rule in DEFAULT_RULES} == set(TRIGGERS)
    assert {rule.reason_code for rule in DEFAULT_RULES} == {
        "CARD_TESTING",
        "IMPOSSIBLE_TRAVEL",
        "ACCOUNT_TAKEOVER",
        "HIGH_AMOUNT",
        "VELOCITY_1H",
    }


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda rule: rule.rule_id)
def test_a_built_in_rule_fires_on_its_pattern_and_not_on_an_ordinary_purchase(rule):
    rules = RuleSet("v1", (compile_rule(rule),))
    tx_changes, feature_changes = TRIGGERS[rule.rule_id]

    fired = rules.evaluate(dict(SAMPLE_TX) | tx_changes, BENIGN_FEATURES | feature_changes)
    benign = rules.evaluate(dict(SAMPLE_TX), BENIGN_FEATURES)

    assert [(hit.rule_id, hit.reason_code) for hit in fired.hits] == [
        (rule.rule_id, rule.reason_code)
    ]
    assert (benign.hits, benign.errors, fired.errors) == ([], 0, 0)


def test_built_in_rules_stay_quiet_for_a_first_purchase_without_history():
    first_purchase = {name: None for name in FEATURE_NAMES} | {
        "amount": 42.5,
        "customer_count_1h": 0.0,
        "customer_count_30d": 0.0,
        "new_device": 1.0,
        "new_country": 1.0,
        "new_ip": 1.0,
        "card_count_1h": 0.0,
    }
    outcome = RuleSet.from_specs("v1", DEFAULT_RULES).evaluate(dict(SAMPLE_TX), first_purchase)

    assert (outcome.hits, outcome.errors) == ([], 0)


def test_an_impossible_travel_declines_first_among_the_built_in_hits():
    features = BENIGN_FEATURES | TRIGGERS["impossible-travel"][1] | TRIGGERS["velocity-1h"][1]

    hits = RuleSet.from_specs("v1", DEFAULT_RULES).evaluate(dict(SAMPLE_TX), features).hits

    assert [(hit.rule_id, hit.action) for hit in hits] == [
        ("impossible-travel", "DECLINE"),
        ("velocity-1h", "REVIEW"),
    ]


# -- what TestRule replays ---------------------------------------------------------------------


def test_a_draft_replays_only_the_features_it_reads_with_their_inputs():
    full = fraud_features(timedelta(days=3))

    ratio = features_read(full, {"amount_to_customer_mean_30d"})
    assert ratio.names == ["amount", "customer_amount_mean_30d", "amount_to_customer_mean_30d"]
    assert features_read(full, None) is full
    assert features_read(full, frozenset()).names == []
    assert feature_history(full) == timedelta(days=33)  # merchant rates: 30 d + 3 d delay
    assert feature_history(features_read(full, {"customer_count_1h"})) == timedelta(hours=1)
    assert feature_history(features_read(full, frozenset())) == timedelta(0)


def test_a_partial_replay_gives_the_same_values_as_the_full_one():
    full = fraud_features(timedelta(days=3))
    part = features_read(full, {"amount_to_customer_mean_30d", "card_count_1h", "new_country"})
    base = feature_row(a_transaction())
    rows = []
    for n, (minutes, amount, country) in enumerate(
        [(0, 20.0, "FR"), (5, 35.0, "FR"), (30, 8.0, "DE"), (50, 400.0, "DE"), (90, 12.0, "FR")]
    ):
        ts = base["ts"] + timedelta(minutes=minutes)
        rows.append(
            base | {"transaction_id": f"t-{n}", "ts": ts, "amount": amount, "country": country}
        )

    everything = list(replay(full, rows))
    partial = list(replay(part, rows))

    assert partial == [{name: values[name] for name in part.names} for values in everything]
    assert [values["card_count_1h"] for values in partial] == [0.0, 1.0, 2.0, 3.0, 2.0]
