"""gRPC handlers of `ecap.v1.ScoringService`, thin: protobuf in, domain call, protobuf out.

Rule-store calls block on the database and TestRule reads the lake, so they run in threads;
ScoreTransaction runs on the event loop (see `engine`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from google.protobuf import empty_pb2

from ecap.v1 import scoring_pb2, scoring_pb2_grpc
from services.mesh.auth import Role, RoleTable, current_principal, roles
from services.scoring import convert
from services.scoring.churn import predict_churn
from services.scoring.config import ScoringSettings
from services.scoring.engine import Scorer
from services.scoring.model_client import BatchingModelClient
from services.scoring.rule_test import test_rule
from services.scoring.rules_live import LiveRules
from spark.config import SparkSettings

SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name
_PREFIX = f"/{SERVICE_NAME}/"

_RULE_READERS = roles(Role.LEAD, Role.ANALYST, Role.INVESTIGATOR, Role.VIEWER)
_RULE_WRITERS = roles(Role.LEAD)

# Which roles may call which RPC (admin may call all).
ROLES: RoleTable = {
    f"{_PREFIX}ScoreTransaction": roles(Role.SERVICE),
    f"{_PREFIX}PredictChurn": roles(Role.SERVICE, Role.ANALYST, Role.LEAD, Role.INVESTIGATOR),
    f"{_PREFIX}ListRules": _RULE_READERS,
    f"{_PREFIX}GetRule": _RULE_READERS,
    f"{_PREFIX}CreateRule": _RULE_WRITERS,
    f"{_PREFIX}UpdateRule": _RULE_WRITERS,
    f"{_PREFIX}DeleteRule": _RULE_WRITERS,
    f"{_PREFIX}TestRule": roles(Role.LEAD, Role.ANALYST),
}


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    """Handlers of `ScoringService`."""

    def __init__(
        self,
        scorer: Scorer,
        rules: LiveRules,
        churn_model: BatchingModelClient,
        settings: ScoringSettings,
        lake_settings: SparkSettings,
    ) -> None:
        self._scorer = scorer
        self._rules = rules
        self._churn_model = churn_model
        self._settings = settings
        self._lake = lake_settings

    async def ScoreTransaction(self, request, context):
        decision, replayed = await self._scorer.score(request.transaction)
        return scoring_pb2.ScoreTransactionResponse(decision=decision, replayed=replayed)

    async def PredictChurn(self, request, context):
        as_of = (
            request.as_of_time.ToDatetime(tzinfo=UTC)
            if request.HasField("as_of_time")
            else datetime.now(UTC)
        )
        prediction = await predict_churn(
            request.customer_id, as_of, self._churn_model, self._settings, self._lake
        )
        return convert.churn_to_proto(prediction)

    async def ListRules(self, request, context):
        store = self._rules.store
        version = await asyncio.to_thread(store.version)
        rules, token = await asyncio.to_thread(store.list, request.page_size, request.page_token)
        return scoring_pb2.ListRulesResponse(
            rules=[convert.rule_to_proto(rule) for rule in rules],
            next_page_token=token,
            rules_version=version,
        )

    async def GetRule(self, request, context):
        rule = await asyncio.to_thread(self._rules.store.get, request.rule_id)
        return convert.rule_to_proto(rule)

    async def CreateRule(self, request, context):
        spec = convert.spec_from_proto(request.rule)
        rule = await self._rules.write(self._rules.store.create, spec, _actor())
        return convert.rule_to_proto(rule)

    async def UpdateRule(self, request, context):
        changes = convert.changes_from_mask(request.rule, request.update_mask)
        rule = await self._rules.write(
            self._rules.store.update,
            request.rule.rule_id,
            changes,
            request.rule.etag or None,
            _actor(),
        )
        return convert.rule_to_proto(rule)

    async def DeleteRule(self, request, context):
        await self._rules.write(
            self._rules.store.delete, request.rule_id, request.etag or None, _actor()
        )
        return empty_pb2.Empty()

    async def TestRule(self, request, context):
        report = await asyncio.to_thread(
            test_rule,
            convert.spec_from_proto(request.rule),
            request.days or 7,
            label_delay=self._settings.label_delay,
            settings=self._lake,
        )
        return convert.test_report_to_proto(report)


def _actor() -> str:
    return current_principal().subject
