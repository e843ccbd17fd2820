"""gRPC handlers of `ecap.v1.AnalyticsService`, thin: protobuf in, domain call, protobuf out.

Every read goes through `Answers.answer`: pin the tables the RPC reads (newest, or as the
request's `at` says), then return the response cached for exactly those versions or build
it. Delta and DuckDB block, so the work runs in a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import grpc
import structlog
from google.protobuf.message import Message

from ecap.v1 import analytics_pb2, analytics_pb2_grpc, cases_pb2, cases_pb2_grpc
from services.analytics import queries, responses
from services.analytics.cache import VersionedCache
from services.analytics.config import AnalyticsSettings
from services.analytics.convert import (
    is_null as _is_null,
)
from services.analytics.convert import lake_at as lake_at_of
from services.analytics.convert import (
    message,
    messages,
    page_token,
    read_page_token,
    tables_read,
)
from services.analytics.customer_rows import CustomerRows
from services.analytics.lake import LakeReader, Snapshot, TableNotComputed, declared_table
from services.mesh.auth import Role, RoleTable, roles
from services.mesh.client import connect
from services.mesh.timestamps import timestamp
from spark.tables import TABLES, tables_in

log = structlog.get_logger("ecap.analytics")

SERVICE_NAME = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name
_PREFIX = f"/{SERVICE_NAME}/"

_EVERYONE = roles(Role.ANALYST, Role.LEAD, Role.INVESTIGATOR, Role.VIEWER, Role.SERVICE)
_PEOPLE_DATA = roles(Role.ANALYST, Role.LEAD, Role.INVESTIGATOR, Role.SERVICE)

# Which roles may call which RPC (admin may call all). Aggregates are open to every role;
# the RPCs that name customers are not open to viewers.
ROLES: RoleTable = {
    **{
        f"{_PREFIX}{method}": _EVERYONE
        for method in (
            "GetKpis",
            "GetRevenueSeries",
            "GetSegments",
            "GetCohorts",
            "GetFunnel",
            "GetAttribution",
            "GetBasketRules",
            "GetProductPerformance",
            "GetGeoBreakdown",
            "GetSeasonality",
            "GetForecast",
            "GetDataQuality",
            "ListTables",
            "GetTableHistory",
            "WatchKpis",
        )
    },
    **{
        f"{_PREFIX}{method}": _PEOPLE_DATA
        for method in ("ListCustomers", "GetCustomer360", "GetRecommendations")
    },
}

_OPEN_CASE_STATUSES = (
    cases_pb2.CASE_STATUS_OPEN,
    cases_pb2.CASE_STATUS_IN_REVIEW,
    cases_pb2.CASE_STATUS_ESCALATED,
)


class Answers:
    """Pinned snapshots and the result cache: the service's read path."""

    def __init__(self, reader: LakeReader, settings: AnalyticsSettings) -> None:
        self.reader = reader
        self.cache = VersionedCache(settings.cache_entries)
        self.customer_rows = CustomerRows(
            settings.customer_index_refresh_s, queries.CUSTOMER_ROW_COLUMNS, key="customer_id"
        )

    def warm_up(self) -> None:
        """Load the newest version of every gold table the RPCs read and build the
        per-customer indexes of silver, so that first requests do not pay for it."""
        started = time.monotonic()
        gold = sorted(
            {name for names in queries.TABLES_READ.values() for name in names}
            - set(queries.CUSTOMER_ROW_COLUMNS)
        )
        for name in gold:
            try:
                self.reader.snapshot((name,))
            except Exception:
                log.exception("warming up: a table could not be read", table=name)
        snapshot = self.reader.snapshot(tuple(queries.CUSTOMER_ROW_COLUMNS))
        for state in snapshot.states.values():
            if state.exists:
                self.customer_rows.build(state)
        log.info("warmed up", seconds=round(time.monotonic() - started, 2))

    def snapshot(self, question: str, request: Message) -> Snapshot:
        at = lake_at_of(request)
        snapshot = self.reader.snapshot(queries.TABLES_READ[question], at)
        if at.latest:
            self.cache.advance(snapshot.versions)
        return snapshot

    def answer(
        self, rpc: str, question: str, request: Message, build: Callable[[Snapshot, Any], Message]
    ) -> Message:
        """`build`'s response to `request`, cached per versions of the tables read."""
        snapshot = self.snapshot(question, request)
        return self.cached(rpc, request, snapshot, build)

    def cached(
        self,
        rpc: str,
        request: Message,
        snapshot: Snapshot,
        build: Callable[[Snapshot, Any], Message],
    ) -> Message:
        def compute() -> Message:
            response = build(snapshot, request)
            response.tables_read.extend(tables_read(snapshot.states.values()))
            return response

        key = request.SerializeToString(deterministic=True)
        return self.cache.get_or_compute(rpc, key, snapshot.versions, compute)


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    """Handlers of `AnalyticsService`."""

    def __init__(self, answers: Answers, settings: AnalyticsSettings) -> None:
        self._answers = answers
        self._settings = settings
        self._cases_channel: grpc.aio.Channel | None = None

    async def _answer(self, rpc: str, question: str, request, build) -> Message:
        return await asyncio.to_thread(self._answers.answer, rpc, question, request, build)

    async def GetKpis(self, request, context):
        return await self._answer("GetKpis", "kpis", request, responses.kpis)

    async def GetRevenueSeries(self, request, context):
        source = responses.series_request(request).source
        return await self._answer("GetRevenueSeries", source, request, responses.revenue_series)

    async def GetSegments(self, request, context):
        return await self._answer("GetSegments", "segments", request, responses.segments)

    async def ListCustomers(self, request, context):
        return await asyncio.to_thread(self._list_customers, request)

    def _list_customers(self, request):
        filters = {"segment": request.segment, "churn_band": request.churn_band}
        size = request.page_size or 50
        if request.page_token:
            offset, versions = read_page_token(request.page_token, filters)
            snapshot = self._answers.reader.pinned(versions)
        else:
            offset, snapshot = 0, self._answers.snapshot("customers", request)

        def build(snapshot: Snapshot, request) -> Message:
            page, total = queries.customers(
                snapshot, request.segment, request.churn_band, offset, size
            )
            following = offset + len(page)
            return analytics_pb2.ListCustomersResponse(
                customers=messages(analytics_pb2.CustomerSummary, page),
                total_size=total,
                next_page_token=(
                    page_token(following, dict(snapshot.versions), filters)
                    if following < total
                    else ""
                ),
            )

        return self._answers.cached("ListCustomers", request, snapshot, build)

    async def GetCustomer360(self, request, context):
        response = analytics_pb2.GetCustomer360Response()
        response.CopyFrom(
            await self._answer(
                "GetCustomer360",
                "customer360",
                request,
                partial(responses.customer360, rows=self._answers.customer_rows),
            )
        )
        cases, error = await self._open_cases(request.customer_id, context)
        response.open_cases.extend(cases)
        response.open_cases_error = error
        return response

    async def _open_cases(self, customer_id: str, context) -> tuple[list, str]:
        """The customer's unresolved cases from the case service, asked with the caller's
        own token (so its role and masking apply), and why they may be missing."""
        if not self._settings.cases_address:
            return [], "no case service configured (ECAP_ANALYTICS_CASES_ADDRESS)"
        if self._cases_channel is None:
            self._cases_channel = connect(
                self._settings.cases_address, deadline_s=self._settings.cases_timeout_s
            )
        metadata = [
            (key, value)
            for key, value in (context.invocation_metadata() or ())
            if key == "authorization"
        ]
        stub = cases_pb2_grpc.CaseServiceStub(self._cases_channel)
        try:
            page = await stub.ListCases(
                cases_pb2.ListCasesRequest(
                    customer_id=customer_id, statuses=_OPEN_CASE_STATUSES, page_size=100
                ),
                metadata=metadata,
                timeout=self._settings.cases_timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("open cases unavailable", code=exc.code().name, details=exc.details())
            return [], f"case service: {exc.code().name}: {exc.details()}"
        return list(page.cases), ""

    async def GetCohorts(self, request, context):
        return await self._answer("GetCohorts", "cohorts", request, responses.cohorts)

    async def GetFunnel(self, request, context):
        return await self._answer("GetFunnel", "funnel", request, responses.funnel)

    async def GetAttribution(self, request, context):
        return await self._answer("GetAttribution", "attribution", request, responses.attribution)

    async def GetBasketRules(self, request, context):
        return await self._answer("GetBasketRules", "basket_rules", request, responses.basket_rules)

    async def GetRecommendations(self, request, context):
        return await self._answer(
            "GetRecommendations", "recommendations", request, responses.recommendations
        )

    async def GetProductPerformance(self, request, context):
        return await self._answer("GetProductPerformance", "products", request, responses.products)

    async def GetGeoBreakdown(self, request, context):
        return await self._answer("GetGeoBreakdown", "geography", request, responses.geography)

    async def GetSeasonality(self, request, context):
        return await self._answer("GetSeasonality", "seasonality", request, responses.seasonality)

    async def GetForecast(self, request, context):
        return await self._answer("GetForecast", "forecast", request, responses.forecast)

    async def GetDataQuality(self, request, context):
        return await self._answer("GetDataQuality", "quality", request, responses.data_quality)

    async def ListTables(self, request, context):
        specs = tables_in(request.layer) if request.layer else list(TABLES.values())
        infos = await asyncio.to_thread(
            lambda: [self._answers.reader.describe(spec.name) for spec in specs]
        )
        return analytics_pb2.ListTablesResponse(tables=[_table_info(info) for info in infos])

    async def GetTableHistory(self, request, context):
        spec = declared_table(request.table)
        commits = await asyncio.to_thread(
            self._answers.reader.history, spec.name, request.limit or 50
        )
        return analytics_pb2.GetTableHistoryResponse(commits=[_commit(c) for c in commits])

    async def WatchKpis(self, request, context):
        since = responses.watch_since(request, self._settings.watch_lookback_s)
        where = queries.KpiFilter(tuple(request.countries), tuple(request.channels))
        reader = self._answers.reader
        key_columns = TABLES["kpi_minute"].key
        sent: dict[tuple, tuple] = {}
        last_version = -1
        while True:
            version = await asyncio.to_thread(reader.current_version, "kpi_minute")
            if version < 0:
                raise TableNotComputed(TABLES["kpi_minute"])
            if version > last_version:
                snapshot = await asyncio.to_thread(reader.pinned, {"kpi_minute": version})
                rows = await asyncio.to_thread(queries.kpi_rows_since, snapshot, since, where)
                for row in rows.to_dict("records"):
                    key = tuple(row[column] for column in key_columns)
                    values = tuple(None if _is_null(v) else v for v in row.values())
                    if sent.get(key) != values:
                        sent[key] = values
                        yield message(analytics_pb2.KpiMinute, {**row, "version": version})
                last_version = version
                # Rows older than the look-back before the newest minute are no longer
                # corrected by the stream; forget them so a long watch stays small.
                if sent:
                    newest = max(key[0] for key in sent).to_pydatetime()
                    horizon = newest - timedelta(seconds=self._settings.watch_lookback_s)
                    if horizon > since:
                        since = horizon
                        sent = {k: v for k, v in sent.items() if k[0] >= horizon}
            await asyncio.sleep(self._settings.watch_poll_s)

    async def close(self) -> None:
        if self._cases_channel is not None:
            await self._cases_channel.close()


def _table_info(info: dict) -> analytics_pb2.TableInfo:
    spec = info["spec"]
    return analytics_pb2.TableInfo(
        table=spec.name,
        layer=spec.layer,
        description=spec.description,
        exists=info["exists"],
        version=max(info["version"], 0),
        commit_time=timestamp(info.get("commit_time")),
        files=info.get("files", 0),
        size_bytes=info.get("size_bytes", 0),
        rows=info.get("rows", 0),
        filled_by=spec.batch_job or spec.filled_by or spec.written_by or "",
        last_optimize_time=timestamp(info.get("last_optimize_time")),
        last_vacuum_time=timestamp(info.get("last_vacuum_time")),
    )


def _commit(entry: dict) -> analytics_pb2.TableCommit:
    def strings(value: Any) -> dict[str, str]:
        return {str(k): str(v) for k, v in (value or {}).items()}

    return analytics_pb2.TableCommit(
        version=int(entry.get("version", -1)),
        commit_time=timestamp(datetime.fromtimestamp(entry["timestamp"] / 1000, UTC))
        if "timestamp" in entry
        else None,
        operation=str(entry.get("operation", "")),
        parameters=strings(entry.get("operationParameters")),
        metrics=strings(entry.get("operationMetrics")),
    )
