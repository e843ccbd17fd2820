"""Query results (pandas rows) to protobuf messages, and requests to query arguments.

Rows map onto messages by field name (with per-message renames); nulls leave a field unset,
timestamps become `Timestamp`s, dates ISO strings.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ecap.v1 import analytics_pb2
from services.analytics.lake import LakeAt, TableState
from services.mesh.errors import FieldViolation, InvalidArgument
from services.mesh.timestamps import time_of, timestamp

M = TypeVar("M", bound=Message)

GRANULARITIES = {
    analytics_pb2.GRANULARITY_MINUTE: "minute",
    analytics_pb2.GRANULARITY_HOUR: "hour",
    analytics_pb2.GRANULARITY_DAY: "day",
    analytics_pb2.GRANULARITY_WEEK: "week",
    analytics_pb2.GRANULARITY_MONTH: "month",
}
DIMENSION_NAMES = {
    analytics_pb2.DIMENSION_COUNTRY: "country",
    analytics_pb2.DIMENSION_CHANNEL: "channel",
    analytics_pb2.DIMENSION_CATEGORY: "category",
}
GEO_LEVELS = {
    analytics_pb2.GEO_LEVEL_UNSPECIFIED: "country",
    analytics_pb2.GEO_LEVEL_COUNTRY: "country",
    analytics_pb2.GEO_LEVEL_REGION: "region",
    analytics_pb2.GEO_LEVEL_CITY: "city",
}
ATTRIBUTION_LEVELS = {
    analytics_pb2.ATTRIBUTION_LEVEL_UNSPECIFIED: "channel",
    analytics_pb2.ATTRIBUTION_LEVEL_CHANNEL: "channel",
    analytics_pb2.ATTRIBUTION_LEVEL_CAMPAIGN: "campaign",
}


def lake_at(message: Message) -> LakeAt:
    """The `at` field of a request."""
    if not message.HasField("at"):
        return LakeAt()
    at = message.at
    which = at.WhichOneof("at")
    if which == "version":
        return LakeAt(version=at.version)
    if which == "time":
        return LakeAt(time=time_of(at, "time"))
    return LakeAt()


def is_null(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def message(cls: type[M], row: Mapping[str, Any], renames: Mapping[str, str] | None = None) -> M:
    """`cls` filled from `row` by field name (`renames`: field -> column)."""
    renames = renames or {}
    out = cls()
    for field in cls.DESCRIPTOR.fields:
        column = renames.get(field.name, field.name)
        if column not in row:
            continue
        value = _plain(row[column])
        if field.is_repeated and field.message_type is None:
            if value is not None:
                getattr(out, field.name).extend(list(value))
            continue
        if is_null(value):
            continue
        if field.message_type is not None:
            if field.message_type.full_name == "google.protobuf.Timestamp":
                moment = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
                getattr(out, field.name).CopyFrom(timestamp(moment))
            continue
        if field.type == FieldDescriptor.TYPE_STRING:
            value = _text(value)
        elif field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_INT32):
            value = int(value)
        elif field.type == FieldDescriptor.TYPE_DOUBLE:
            value = float(value)
        setattr(out, field.name, value)
    return out


def _text(value: Any) -> str:
    """A string field's text; a date column (which pandas hands over as a naive midnight
    datetime) is written YYYY-MM-DD, as the protos document."""
    if isinstance(value, datetime):
        if value.tzinfo is None and value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def messages(
    cls: type[M], frame: pd.DataFrame, renames: Mapping[str, str] | None = None
) -> list[M]:
    """One `cls` per row of `frame`."""
    return [message(cls, row, renames) for row in frame.to_dict("records")]


def tables_read(states: Iterable[TableState]) -> list[analytics_pb2.TableRead]:
    """The TableRead entries of the tables a response was computed from (written ones)."""
    return [
        analytics_pb2.TableRead(
            table=state.spec.name, version=state.version, commit_time=timestamp(state.commit_time)
        )
        for state in states
        if state.exists
    ]


def page_token(offset: int, versions: Mapping[str, int], filters: Mapping[str, str]) -> str:
    """An opaque token for the page at `offset`, pinning the lake versions read."""
    body = json.dumps({"offset": offset, "versions": versions, "filters": filters})
    return base64.urlsafe_b64encode(body.encode()).decode()


def read_page_token(token: str, filters: Mapping[str, str]) -> tuple[int, dict[str, int]]:
    """The offset and pinned versions of `token`; INVALID_ARGUMENT when it is not one of ours
    or was made for other filters."""
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, versions = int(body["offset"]), {k: int(v) for k, v in body["versions"].items()}
        same = body["filters"] == dict(filters)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _bad_token("page_token is not a token this service issued") from None
    if not same:
        raise _bad_token("page_token was issued for other filters; keep the filters unchanged")
    return offset, versions


def _bad_token(description: str) -> InvalidArgument:
    return InvalidArgument(description, [FieldViolation("page_token", "valid_token", description)])
