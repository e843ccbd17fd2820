"""gRPC handlers of `ecap.v1.CaseService`, thin: protobuf in, domain call, protobuf out.

Store calls block on the database, so they run on a thread pool of `db_workers` threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ecap.v1 import cases_pb2, cases_pb2_grpc
from services.cases import convert
from services.cases.config import CasesSettings
from services.cases.feed import ChangeFeed
from services.cases.records import Change
from services.cases.store import CaseStore
from services.cases.workflow import UPDATABLE_FIELDS, Actor
from services.mesh.auth import Principal, Role, RoleTable, current_principal, roles
from services.mesh.errors import PermissionDenied, ResourceExhausted

T = TypeVar("T")

SERVICE_NAME = cases_pb2.DESCRIPTOR.services_by_name["CaseService"].full_name
_PREFIX = f"/{SERVICE_NAME}/"

_READERS = roles(Role.INVESTIGATOR, Role.LEAD, Role.ANALYST, Role.VIEWER)
_WORKERS = roles(Role.INVESTIGATOR, Role.LEAD)
_LEADS = roles(Role.LEAD)

# Which roles may call which RPC (admin may call all). Within an RPC, investigators may
# note, add evidence to, update and resolve only the cases assigned to them (workflow.py).
ROLES: RoleTable = {
    f"{_PREFIX}GetCase": _READERS,
    f"{_PREFIX}ListCases": _READERS,
    f"{_PREFIX}ListCaseEvents": _READERS,
    f"{_PREFIX}WatchCases": _READERS,
    f"{_PREFIX}GetQueueStats": _READERS,
    f"{_PREFIX}CreateCase": roles(Role.INVESTIGATOR, Role.LEAD, Role.SERVICE),
    f"{_PREFIX}UpdateCase": _WORKERS,
    f"{_PREFIX}ClaimNextCase": _WORKERS,
    f"{_PREFIX}AddNote": _WORKERS,
    f"{_PREFIX}AddEvidence": _WORKERS,
    f"{_PREFIX}ResolveCase": _WORKERS,
    f"{_PREFIX}AssignCase": _LEADS,
    f"{_PREFIX}EscalateCase": _LEADS,
    f"{_PREFIX}ReopenCase": _LEADS,
}

# Roles that see customer PII unmasked; a viewer-only token sees it masked.
PII_ROLES = frozenset({Role.ADMIN, Role.LEAD, Role.INVESTIGATOR, Role.ANALYST, Role.SERVICE})
DEFAULT_PAGE = {"cases": 50, "events": 100}


def actor_of(principal: Principal) -> Actor:
    """The domain's view of the caller."""
    return Actor(
        subject=principal.subject,
        lead=principal.has_any((Role.LEAD, Role.ADMIN)),
        sees_pii=principal.has_any(PII_ROLES),
    )


class CasesServicer(cases_pb2_grpc.CaseServiceServicer):
    """Handlers of `CaseService`."""

    def __init__(
        self,
        store: CaseStore,
        feed: ChangeFeed,
        settings: CasesSettings,
        workers: ThreadPoolExecutor,
    ) -> None:
        self._store = store
        self._feed = feed
        self._settings = settings
        self._workers = workers

    async def _run(self, call: Callable[..., T], *args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._workers, call, *args)

    def _case(self, record, actor: Actor) -> cases_pb2.Case:
        return convert.to_case(record, sees_pii=actor.sees_pii)

    async def GetCase(self, request, context):
        actor = actor_of(current_principal())
        return self._case(await self._run(self._store.get, request.case_id), actor)

    async def ListCases(self, request, context):
        actor = actor_of(current_principal())
        size = request.page_size or DEFAULT_PAGE["cases"]
        start = convert.page_position(request)
        order = convert.ORDER_NAMES[request.order]
        records, more = await self._run(
            self._store.list, convert.case_filter(request), order, start, size
        )
        return cases_pb2.ListCasesResponse(
            cases=[convert.to_case(r, sees_pii=actor.sees_pii, details=False) for r in records],
            next_page_token=convert.page_token(request, start + size) if more else "",
        )

    async def CreateCase(self, request, context):
        actor = actor_of(current_principal())
        record = await self._run(
            self._store.create, convert.case_fields(request.case), actor, request.request_id
        )
        return self._case(record, actor)

    async def UpdateCase(self, request, context):
        actor = actor_of(current_principal())
        values = convert.update_values(request, UPDATABLE_FIELDS)
        record = await self._run(
            self._store.update, request.case.case_id, values, request.case.etag, actor
        )
        return self._case(record, actor)

    async def ClaimNextCase(self, request, context):
        principal = current_principal()
        actor = actor_of(principal)
        mine = self._settings.queues_of(principal.subject)
        asked = list(request.queues) or mine
        foreign = sorted(set(asked) - set(mine))
        if foreign and Role.ADMIN not in principal.roles:
            raise PermissionDenied(
                f"queues {', '.join(foreign)} are not among {principal.subject}'s queues "
                f"({', '.join(mine)})",
                reason="QUEUE_NOT_YOURS",
            )
        record = await self._run(self._store.claim_next, actor, asked)
        response = cases_pb2.ClaimNextCaseResponse()
        if record is not None:
            response.case.CopyFrom(self._case(record, actor))
        return response

    async def AssignCase(self, request, context):
        actor = actor_of(current_principal())
        record = await self._run(
            self._store.assign, request.case_id, request.assignee, request.etag, actor
        )
        return self._case(record, actor)

    async def EscalateCase(self, request, context):
        actor = actor_of(current_principal())
        record = await self._run(
            self._store.escalate, request.case_id, request.reason, request.etag, actor
        )
        return self._case(record, actor)

    async def AddNote(self, request, context):
        actor = actor_of(current_principal())
        record = await self._run(self._store.add_note, request.case_id, request.text, actor)
        return self._case(record, actor)

    async def AddEvidence(self, request, context):
        actor = actor_of(current_principal())
        kind, payload = convert.evidence_payload(request.evidence)
        record = await self._run(
            self._store.add_evidence,
            request.case_id,
            kind,
            payload,
            request.evidence.description,
            actor,
        )
        return self._case(record, actor)

    async def ResolveCase(self, request, context):
        actor = actor_of(current_principal())
        record = await self._run(
            self._store.resolve,
            request.case_id,
            convert.outcome_of(request.outcome),
            request.note,
            request.etag,
            actor,
        )
        return self._case(record, actor)

    async def ReopenCase(self, request, context):
        actor = actor_of(current_principal())
        record = await self._run(
            self._store.reopen, request.case_id, request.reason, request.etag, actor
        )
        return self._case(record, actor)

    async def ListCaseEvents(self, request, context):
        actor = actor_of(current_principal())
        size = request.page_size or DEFAULT_PAGE["events"]
        after = convert.page_position(request)
        rows, more = await self._run(self._store.events, request.case_id, after, size)
        return cases_pb2.ListCaseEventsResponse(
            events=[convert.to_audit_event(r, sees_pii=actor.sees_pii) for r in rows],
            next_page_token=convert.page_token(request, rows[-1].seq) if more else "",
        )

    async def WatchCases(self, request, context) -> AsyncIterator[cases_pb2.WatchCasesResponse]:
        actor = actor_of(current_principal())
        queues = set(request.queues)
        watcher = self._feed.subscribe()
        try:
            yield cases_pb2.WatchCasesResponse(heartbeat=True)
            while True:
                try:
                    change = await watcher.next(self._settings.watch_heartbeat_s)
                except OverflowError:
                    raise ResourceExhausted(
                        f"this watcher fell {self._settings.watch_buffer} changes behind; "
                        "re-read with ListCases and watch again",
                        reason="WATCHER_TOO_SLOW",
                    ) from None
                if change is None:
                    yield cases_pb2.WatchCasesResponse(heartbeat=True)
                elif _wanted(change, queues, request.case_id):
                    yield cases_pb2.WatchCasesResponse(
                        event=convert.to_audit_event(change.event, sees_pii=actor.sees_pii),
                        case=convert.to_case(change.record, sees_pii=actor.sees_pii, details=False),
                    )
        finally:
            self._feed.unsubscribe(watcher)

    async def GetQueueStats(self, request, context):
        stats = await self._run(self._store.queue_stats, list(request.queues))
        return convert.to_queue_stats(stats)


def _wanted(change: Change, queues: set[str], case_id: str) -> bool:
    case = change.record.case
    return (not queues or case.queue in queues) and (not case_id or case.case_id == case_id)
