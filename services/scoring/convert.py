"""Between protobuf and the scoring domain: rules, rule-test reports, churn predictions."""

from __future__ import annotations

from google.protobuf.field_mask_pb2 import FieldMask

from ecap.v1 import scoring_pb2
from services.mesh.errors import FieldViolation, InvalidArgument
from services.mesh.timestamps import timestamp
from services.scoring.churn import ChurnPrediction
from services.scoring.rule_store import UPDATABLE_FIELDS
from services.scoring.rules import RuleSpec

_ACTIONS = {
    scoring_pb2.RULE_ACTION_REVIEW: "REVIEW",
    scoring_pb2.RULE_ACTION_DECLINE: "DECLINE",
    scoring_pb2.RULE_ACTION_ALLOW: "ALLOW",
}
_ACTION_NUMBERS = {name: number for number, name in _ACTIONS.items()}


def spec_from_proto(rule: scoring_pb2.Rule) -> RuleSpec:
    """The rule a CreateRule request carries."""
    return RuleSpec(
        rule_id=rule.rule_id,
        display_name=rule.display_name or rule.rule_id,
        description=rule.description,
        expression=rule.expression,
        action=_ACTIONS.get(rule.action, ""),
        reason_code=rule.reason_code,
        enabled=rule.enabled,
    )


def changes_from_mask(rule: scoring_pb2.Rule, mask: FieldMask) -> dict:
    """The fields an UpdateRule request changes, by name."""
    unknown = [path for path in mask.paths if path not in UPDATABLE_FIELDS]
    if unknown or not mask.paths:
        raise InvalidArgument(
            "update_mask: name one or more of " + ", ".join(UPDATABLE_FIELDS),
            [
                FieldViolation(
                    "update_mask.paths",
                    "updatable",
                    f"{path!r} cannot be updated" if unknown else "empty",
                )
                for path in (unknown or ["(none)"])
            ],
        )
    changes = {}
    for path in mask.paths:
        value = getattr(rule, path)
        changes[path] = _ACTIONS.get(value) if path == "action" else value
        if path == "action" and changes[path] is None:
            raise InvalidArgument(
                "rule.action: must be REVIEW, DECLINE or ALLOW",
                [FieldViolation("rule.action", "enum.defined_only", "unspecified")],
            )
    return changes


def rule_to_proto(stored) -> scoring_pb2.Rule:
    """A stored rule as the API shows it."""
    return scoring_pb2.Rule(
        name=f"rules/{stored.rule_id}",
        rule_id=stored.rule_id,
        display_name=stored.display_name,
        description=stored.description,
        expression=stored.expression,
        action=_ACTION_NUMBERS[stored.action],
        reason_code=stored.reason_code,
        enabled=stored.enabled,
        etag=stored.etag,
        rules_version=stored.rules_version,
        create_time=timestamp(stored.create_time),
        update_time=timestamp(stored.update_time),
    )


def test_report_to_proto(report) -> scoring_pb2.TestRuleResponse:
    response = scoring_pb2.TestRuleResponse(
        evaluated=report.evaluated,
        hits=report.hits,
        hit_rate=report.hit_rate,
        labelled_hits=report.labelled_hits,
        fraud_hits=report.fraud_hits,
        precision=report.precision,
        fraud_total=report.fraud_total,
        recall=report.recall,
        errors=report.errors,
        period_start=timestamp(report.period_start),
        period_end=timestamp(report.period_end),
    )
    response.elapsed.FromNanoseconds(int(report.elapsed_s * 1e9))
    return response


def churn_to_proto(prediction: ChurnPrediction) -> scoring_pb2.PredictChurnResponse:
    return scoring_pb2.PredictChurnResponse(
        customer_id=prediction.customer_id,
        probability=prediction.probability,
        risk_band=prediction.band,
        drivers=prediction.drivers,
        model_tag=prediction.model_tag,
        features=prediction.features,
        as_of_time=timestamp(prediction.as_of),
    )
