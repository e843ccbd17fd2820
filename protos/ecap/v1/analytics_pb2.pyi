import datetime

from buf.validate import validate_pb2 as _validate_pb2
from ecap.v1 import cases_pb2 as _cases_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Granularity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANULARITY_UNSPECIFIED: _ClassVar[Granularity]
    GRANULARITY_MINUTE: _ClassVar[Granularity]
    GRANULARITY_HOUR: _ClassVar[Granularity]
    GRANULARITY_DAY: _ClassVar[Granularity]
    GRANULARITY_WEEK: _ClassVar[Granularity]
    GRANULARITY_MONTH: _ClassVar[Granularity]

class Dimension(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIMENSION_UNSPECIFIED: _ClassVar[Dimension]
    DIMENSION_COUNTRY: _ClassVar[Dimension]
    DIMENSION_CHANNEL: _ClassVar[Dimension]
    DIMENSION_CATEGORY: _ClassVar[Dimension]

class AttributionLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTRIBUTION_LEVEL_UNSPECIFIED: _ClassVar[AttributionLevel]
    ATTRIBUTION_LEVEL_CHANNEL: _ClassVar[AttributionLevel]
    ATTRIBUTION_LEVEL_CAMPAIGN: _ClassVar[AttributionLevel]

class GeoLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GEO_LEVEL_UNSPECIFIED: _ClassVar[GeoLevel]
    GEO_LEVEL_COUNTRY: _ClassVar[GeoLevel]
    GEO_LEVEL_REGION: _ClassVar[GeoLevel]
    GEO_LEVEL_CITY: _ClassVar[GeoLevel]
GRANULARITY_UNSPECIFIED: Granularity
GRANULARITY_MINUTE: Granularity
GRANULARITY_HOUR: Granularity
GRANULARITY_DAY: Granularity
GRANULARITY_WEEK: Granularity
GRANULARITY_MONTH: Granularity
DIMENSION_UNSPECIFIED: Dimension
DIMENSION_COUNTRY: Dimension
DIMENSION_CHANNEL: Dimension
DIMENSION_CATEGORY: Dimension
ATTRIBUTION_LEVEL_UNSPECIFIED: AttributionLevel
ATTRIBUTION_LEVEL_CHANNEL: AttributionLevel
ATTRIBUTION_LEVEL_CAMPAIGN: AttributionLevel
GEO_LEVEL_UNSPECIFIED: GeoLevel
GEO_LEVEL_COUNTRY: GeoLevel
GEO_LEVEL_REGION: GeoLevel
GEO_LEVEL_CITY: GeoLevel

class LakeAt(_message.Message):
    __slots__ = ("version", "time")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    version: int
    time: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TableRead(_message.Message):
    __slots__ = ("table", "version", "commit_time")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    table: str
    version: int
    commit_time: _timestamp_pb2.Timestamp
    def __init__(self, table: _Optional[str] = ..., version: _Optional[int] = ..., commit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class KpiValues(_message.Message):
    __slots__ = ("orders", "units", "revenue_minor", "avg_order_value_minor", "unique_customers", "decisions", "approved", "reviewed", "declined", "fraud_flag_rate")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    AVG_ORDER_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_FIELD_NUMBER: _ClassVar[int]
    DECLINED_FIELD_NUMBER: _ClassVar[int]
    FRAUD_FLAG_RATE_FIELD_NUMBER: _ClassVar[int]
    orders: int
    units: int
    revenue_minor: int
    avg_order_value_minor: float
    unique_customers: int
    decisions: int
    approved: int
    reviewed: int
    declined: int
    fraud_flag_rate: float
    def __init__(self, orders: _Optional[int] = ..., units: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., avg_order_value_minor: _Optional[float] = ..., unique_customers: _Optional[int] = ..., decisions: _Optional[int] = ..., approved: _Optional[int] = ..., reviewed: _Optional[int] = ..., declined: _Optional[int] = ..., fraud_flag_rate: _Optional[float] = ...) -> None: ...

class GetKpisRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "countries", "channels", "at")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    countries: _containers.RepeatedScalarFieldContainer[str]
    channels: _containers.RepeatedScalarFieldContainer[str]
    at: LakeAt
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., countries: _Optional[_Iterable[str]] = ..., channels: _Optional[_Iterable[str]] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class GetKpisResponse(_message.Message):
    __slots__ = ("current", "previous", "previous_start_time", "change", "tables_read")
    class ChangeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_START_TIME_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    current: KpiValues
    previous: KpiValues
    previous_start_time: _timestamp_pb2.Timestamp
    change: _containers.ScalarMap[str, float]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, current: _Optional[_Union[KpiValues, _Mapping]] = ..., previous: _Optional[_Union[KpiValues, _Mapping]] = ..., previous_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., change: _Optional[_Mapping[str, float]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetRevenueSeriesRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "granularity", "group_by", "countries", "channels", "categories", "at")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    granularity: Granularity
    group_by: _containers.RepeatedScalarFieldContainer[Dimension]
    countries: _containers.RepeatedScalarFieldContainer[str]
    channels: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    at: LakeAt
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., group_by: _Optional[_Iterable[_Union[Dimension, str]]] = ..., countries: _Optional[_Iterable[str]] = ..., channels: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class RevenuePoint(_message.Message):
    __slots__ = ("bucket_start_time", "group", "orders", "units", "revenue_minor", "margin_minor", "avg_order_value_minor")
    class GroupEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    BUCKET_START_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    MARGIN_MINOR_FIELD_NUMBER: _ClassVar[int]
    AVG_ORDER_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    bucket_start_time: _timestamp_pb2.Timestamp
    group: _containers.ScalarMap[str, str]
    orders: int
    units: int
    revenue_minor: int
    margin_minor: int
    avg_order_value_minor: float
    def __init__(self, bucket_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group: _Optional[_Mapping[str, str]] = ..., orders: _Optional[int] = ..., units: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., margin_minor: _Optional[int] = ..., avg_order_value_minor: _Optional[float] = ...) -> None: ...

class GetRevenueSeriesResponse(_message.Message):
    __slots__ = ("points", "tables_read")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[RevenuePoint]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, points: _Optional[_Iterable[_Union[RevenuePoint, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetSegmentsRequest(_message.Message):
    __slots__ = ("at",)
    AT_FIELD_NUMBER: _ClassVar[int]
    at: LakeAt
    def __init__(self, at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("segment", "customers", "revenue_minor", "customer_share", "revenue_share", "average_revenue_minor")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_SHARE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_SHARE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    segment: str
    customers: int
    revenue_minor: int
    customer_share: float
    revenue_share: float
    average_revenue_minor: float
    def __init__(self, segment: _Optional[str] = ..., customers: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., customer_share: _Optional[float] = ..., revenue_share: _Optional[float] = ..., average_revenue_minor: _Optional[float] = ...) -> None: ...

class GetSegmentsResponse(_message.Message):
    __slots__ = ("segments", "as_of_time", "tables_read")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    as_of_time: _timestamp_pb2.Timestamp
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class ListCustomersRequest(_message.Message):
    __slots__ = ("segment", "churn_band", "page_size", "page_token", "at")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    CHURN_BAND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    segment: str
    churn_band: str
    page_size: int
    page_token: str
    at: LakeAt
    def __init__(self, segment: _Optional[str] = ..., churn_band: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class CustomerSummary(_message.Message):
    __slots__ = ("customer_id", "segment", "r", "f", "m", "recency_days", "frequency", "monetary_minor", "clv_minor", "p_alive", "churn_probability", "churn_band")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    R_FIELD_NUMBER: _ClassVar[int]
    F_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    RECENCY_DAYS_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    MONETARY_MINOR_FIELD_NUMBER: _ClassVar[int]
    CLV_MINOR_FIELD_NUMBER: _ClassVar[int]
    P_ALIVE_FIELD_NUMBER: _ClassVar[int]
    CHURN_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    CHURN_BAND_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    segment: str
    r: int
    f: int
    m: int
    recency_days: float
    frequency: int
    monetary_minor: int
    clv_minor: float
    p_alive: float
    churn_probability: float
    churn_band: str
    def __init__(self, customer_id: _Optional[str] = ..., segment: _Optional[str] = ..., r: _Optional[int] = ..., f: _Optional[int] = ..., m: _Optional[int] = ..., recency_days: _Optional[float] = ..., frequency: _Optional[int] = ..., monetary_minor: _Optional[int] = ..., clv_minor: _Optional[float] = ..., p_alive: _Optional[float] = ..., churn_probability: _Optional[float] = ..., churn_band: _Optional[str] = ...) -> None: ...

class ListCustomersResponse(_message.Message):
    __slots__ = ("customers", "next_page_token", "total_size", "tables_read")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[CustomerSummary]
    next_page_token: str
    total_size: int
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, customers: _Optional[_Iterable[_Union[CustomerSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetCustomer360Request(_message.Message):
    __slots__ = ("customer_id", "recent_transactions", "at")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    RECENT_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    recent_transactions: int
    at: LakeAt
    def __init__(self, customer_id: _Optional[str] = ..., recent_transactions: _Optional[int] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class CustomerProfile(_message.Message):
    __slots__ = ("customer_id", "full_name", "email", "country", "region", "city", "signed_up_time", "acquisition_channel")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    SIGNED_UP_TIME_FIELD_NUMBER: _ClassVar[int]
    ACQUISITION_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    full_name: str
    email: str
    country: str
    region: str
    city: str
    signed_up_time: _timestamp_pb2.Timestamp
    acquisition_channel: str
    def __init__(self, customer_id: _Optional[str] = ..., full_name: _Optional[str] = ..., email: _Optional[str] = ..., country: _Optional[str] = ..., region: _Optional[str] = ..., city: _Optional[str] = ..., signed_up_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acquisition_channel: _Optional[str] = ...) -> None: ...

class CustomerChurn(_message.Message):
    __slots__ = ("probability", "band", "drivers", "model_tag", "as_of_time")
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    MODEL_TAG_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    probability: float
    band: str
    drivers: _containers.RepeatedScalarFieldContainer[str]
    model_tag: str
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, probability: _Optional[float] = ..., band: _Optional[str] = ..., drivers: _Optional[_Iterable[str]] = ..., model_tag: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CustomerClv(_message.Message):
    __slots__ = ("p_alive", "expected_purchases", "expected_avg_spend_minor", "clv_minor", "horizon_days")
    P_ALIVE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PURCHASES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_AVG_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    CLV_MINOR_FIELD_NUMBER: _ClassVar[int]
    HORIZON_DAYS_FIELD_NUMBER: _ClassVar[int]
    p_alive: float
    expected_purchases: float
    expected_avg_spend_minor: float
    clv_minor: float
    horizon_days: float
    def __init__(self, p_alive: _Optional[float] = ..., expected_purchases: _Optional[float] = ..., expected_avg_spend_minor: _Optional[float] = ..., clv_minor: _Optional[float] = ..., horizon_days: _Optional[float] = ...) -> None: ...

class RecentTransaction(_message.Message):
    __slots__ = ("transaction_id", "occurred_time", "amount_minor", "currency", "merchant_id", "channel", "country", "decision_outcome", "risk_score")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_TIME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DECISION_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RISK_SCORE_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    occurred_time: _timestamp_pb2.Timestamp
    amount_minor: int
    currency: str
    merchant_id: str
    channel: str
    country: str
    decision_outcome: str
    risk_score: float
    def __init__(self, transaction_id: _Optional[str] = ..., occurred_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amount_minor: _Optional[int] = ..., currency: _Optional[str] = ..., merchant_id: _Optional[str] = ..., channel: _Optional[str] = ..., country: _Optional[str] = ..., decision_outcome: _Optional[str] = ..., risk_score: _Optional[float] = ...) -> None: ...

class GetCustomer360Response(_message.Message):
    __slots__ = ("profile", "summary", "clv", "churn", "recent_transactions", "open_cases", "open_cases_error", "tables_read")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CLV_FIELD_NUMBER: _ClassVar[int]
    CHURN_FIELD_NUMBER: _ClassVar[int]
    RECENT_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    OPEN_CASES_FIELD_NUMBER: _ClassVar[int]
    OPEN_CASES_ERROR_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    profile: CustomerProfile
    summary: CustomerSummary
    clv: CustomerClv
    churn: CustomerChurn
    recent_transactions: _containers.RepeatedCompositeFieldContainer[RecentTransaction]
    open_cases: _containers.RepeatedCompositeFieldContainer[_cases_pb2.Case]
    open_cases_error: str
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, profile: _Optional[_Union[CustomerProfile, _Mapping]] = ..., summary: _Optional[_Union[CustomerSummary, _Mapping]] = ..., clv: _Optional[_Union[CustomerClv, _Mapping]] = ..., churn: _Optional[_Union[CustomerChurn, _Mapping]] = ..., recent_transactions: _Optional[_Iterable[_Union[RecentTransaction, _Mapping]]] = ..., open_cases: _Optional[_Iterable[_Union[_cases_pb2.Case, _Mapping]]] = ..., open_cases_error: _Optional[str] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetCohortsRequest(_message.Message):
    __slots__ = ("at",)
    AT_FIELD_NUMBER: _ClassVar[int]
    at: LakeAt
    def __init__(self, at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class CohortCell(_message.Message):
    __slots__ = ("cohort_month", "month_offset", "customers", "active_customers", "retention", "orders", "revenue_minor")
    COHORT_MONTH_FIELD_NUMBER: _ClassVar[int]
    MONTH_OFFSET_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    cohort_month: str
    month_offset: int
    customers: int
    active_customers: int
    retention: float
    orders: int
    revenue_minor: int
    def __init__(self, cohort_month: _Optional[str] = ..., month_offset: _Optional[int] = ..., customers: _Optional[int] = ..., active_customers: _Optional[int] = ..., retention: _Optional[float] = ..., orders: _Optional[int] = ..., revenue_minor: _Optional[int] = ...) -> None: ...

class GetCohortsResponse(_message.Message):
    __slots__ = ("cells", "tables_read")
    CELLS_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    cells: _containers.RepeatedCompositeFieldContainer[CohortCell]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, cells: _Optional[_Iterable[_Union[CohortCell, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetFunnelRequest(_message.Message):
    __slots__ = ("channel", "device_type", "at")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    channel: str
    device_type: str
    at: LakeAt
    def __init__(self, channel: _Optional[str] = ..., device_type: _Optional[str] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class FunnelStep(_message.Message):
    __slots__ = ("step_index", "step", "sessions", "conversion_from_previous", "conversion_from_start")
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FROM_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FROM_START_FIELD_NUMBER: _ClassVar[int]
    step_index: int
    step: str
    sessions: int
    conversion_from_previous: float
    conversion_from_start: float
    def __init__(self, step_index: _Optional[int] = ..., step: _Optional[str] = ..., sessions: _Optional[int] = ..., conversion_from_previous: _Optional[float] = ..., conversion_from_start: _Optional[float] = ...) -> None: ...

class GetFunnelResponse(_message.Message):
    __slots__ = ("steps", "tables_read")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStep]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, steps: _Optional[_Iterable[_Union[FunnelStep, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetAttributionRequest(_message.Message):
    __slots__ = ("model", "level", "at")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    model: str
    level: AttributionLevel
    at: LakeAt
    def __init__(self, model: _Optional[str] = ..., level: _Optional[_Union[AttributionLevel, str]] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class AttributionCredit(_message.Message):
    __slots__ = ("channel", "campaign", "conversions", "revenue_minor")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    channel: str
    campaign: str
    conversions: float
    revenue_minor: float
    def __init__(self, channel: _Optional[str] = ..., campaign: _Optional[str] = ..., conversions: _Optional[float] = ..., revenue_minor: _Optional[float] = ...) -> None: ...

class GetAttributionResponse(_message.Message):
    __slots__ = ("credits", "tables_read")
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    credits: _containers.RepeatedCompositeFieldContainer[AttributionCredit]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, credits: _Optional[_Iterable[_Union[AttributionCredit, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetBasketRulesRequest(_message.Message):
    __slots__ = ("product_id", "min_lift", "min_confidence", "limit", "at")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_LIFT_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    min_lift: float
    min_confidence: float
    limit: int
    at: LakeAt
    def __init__(self, product_id: _Optional[str] = ..., min_lift: _Optional[float] = ..., min_confidence: _Optional[float] = ..., limit: _Optional[int] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class BasketRule(_message.Message):
    __slots__ = ("antecedent", "consequent", "support", "confidence", "lift")
    ANTECEDENT_FIELD_NUMBER: _ClassVar[int]
    CONSEQUENT_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LIFT_FIELD_NUMBER: _ClassVar[int]
    antecedent: _containers.RepeatedScalarFieldContainer[str]
    consequent: _containers.RepeatedScalarFieldContainer[str]
    support: float
    confidence: float
    lift: float
    def __init__(self, antecedent: _Optional[_Iterable[str]] = ..., consequent: _Optional[_Iterable[str]] = ..., support: _Optional[float] = ..., confidence: _Optional[float] = ..., lift: _Optional[float] = ...) -> None: ...

class GetBasketRulesResponse(_message.Message):
    __slots__ = ("rules", "tables_read")
    RULES_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[BasketRule]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, rules: _Optional[_Iterable[_Union[BasketRule, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetRecommendationsRequest(_message.Message):
    __slots__ = ("customer_id", "limit", "at")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    limit: int
    at: LakeAt
    def __init__(self, customer_id: _Optional[str] = ..., limit: _Optional[int] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("rank", "product_id", "score")
    RANK_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    rank: int
    product_id: str
    score: float
    def __init__(self, rank: _Optional[int] = ..., product_id: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class RecommenderEvaluation(_message.Message):
    __slots__ = ("model", "k", "precision_at_k", "recall_at_k", "customers")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    PRECISION_AT_K_FIELD_NUMBER: _ClassVar[int]
    RECALL_AT_K_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    model: str
    k: int
    precision_at_k: float
    recall_at_k: float
    customers: int
    def __init__(self, model: _Optional[str] = ..., k: _Optional[int] = ..., precision_at_k: _Optional[float] = ..., recall_at_k: _Optional[float] = ..., customers: _Optional[int] = ...) -> None: ...

class GetRecommendationsResponse(_message.Message):
    __slots__ = ("recommendations", "evaluation", "tables_read")
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    recommendations: _containers.RepeatedCompositeFieldContainer[Recommendation]
    evaluation: _containers.RepeatedCompositeFieldContainer[RecommenderEvaluation]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, recommendations: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ..., evaluation: _Optional[_Iterable[_Union[RecommenderEvaluation, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetProductPerformanceRequest(_message.Message):
    __slots__ = ("category", "trend", "limit", "at")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    category: str
    trend: str
    limit: int
    at: LakeAt
    def __init__(self, category: _Optional[str] = ..., trend: _Optional[str] = ..., limit: _Optional[int] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class ProductPerformance(_message.Message):
    __slots__ = ("product_id", "name", "category", "window_days", "units", "orders", "revenue_minor", "margin_minor", "previous_units", "previous_revenue_minor", "velocity_units_per_day", "velocity_change", "revenue_rank", "trend")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    MARGIN_MINOR_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_UNITS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    VELOCITY_UNITS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    VELOCITY_CHANGE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_RANK_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    category: str
    window_days: int
    units: int
    orders: int
    revenue_minor: int
    margin_minor: int
    previous_units: int
    previous_revenue_minor: int
    velocity_units_per_day: float
    velocity_change: float
    revenue_rank: int
    trend: str
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ..., category: _Optional[str] = ..., window_days: _Optional[int] = ..., units: _Optional[int] = ..., orders: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., margin_minor: _Optional[int] = ..., previous_units: _Optional[int] = ..., previous_revenue_minor: _Optional[int] = ..., velocity_units_per_day: _Optional[float] = ..., velocity_change: _Optional[float] = ..., revenue_rank: _Optional[int] = ..., trend: _Optional[str] = ...) -> None: ...

class GetProductPerformanceResponse(_message.Message):
    __slots__ = ("products", "tables_read")
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[ProductPerformance]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, products: _Optional[_Iterable[_Union[ProductPerformance, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetGeoBreakdownRequest(_message.Message):
    __slots__ = ("level", "country", "at")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    level: GeoLevel
    country: str
    at: LakeAt
    def __init__(self, level: _Optional[_Union[GeoLevel, str]] = ..., country: _Optional[str] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class GeoRow(_message.Message):
    __slots__ = ("country", "region", "city", "orders", "customers", "revenue_minor", "avg_order_value_minor", "revenue_share")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    AVG_ORDER_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    REVENUE_SHARE_FIELD_NUMBER: _ClassVar[int]
    country: str
    region: str
    city: str
    orders: int
    customers: int
    revenue_minor: int
    avg_order_value_minor: float
    revenue_share: float
    def __init__(self, country: _Optional[str] = ..., region: _Optional[str] = ..., city: _Optional[str] = ..., orders: _Optional[int] = ..., customers: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., avg_order_value_minor: _Optional[float] = ..., revenue_share: _Optional[float] = ...) -> None: ...

class GetGeoBreakdownResponse(_message.Message):
    __slots__ = ("rows", "tables_read")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[GeoRow]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, rows: _Optional[_Iterable[_Union[GeoRow, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetSeasonalityRequest(_message.Message):
    __slots__ = ("at",)
    AT_FIELD_NUMBER: _ClassVar[int]
    at: LakeAt
    def __init__(self, at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class SeasonalPeriod(_message.Message):
    __slots__ = ("profile", "period", "orders", "revenue_minor", "index")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    profile: str
    period: int
    orders: int
    revenue_minor: int
    index: float
    def __init__(self, profile: _Optional[str] = ..., period: _Optional[int] = ..., orders: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., index: _Optional[float] = ...) -> None: ...

class GetSeasonalityResponse(_message.Message):
    __slots__ = ("periods", "tables_read")
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    periods: _containers.RepeatedCompositeFieldContainer[SeasonalPeriod]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, periods: _Optional[_Iterable[_Union[SeasonalPeriod, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetForecastRequest(_message.Message):
    __slots__ = ("category", "at")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    category: str
    at: LakeAt
    def __init__(self, category: _Optional[str] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class ForecastPoint(_message.Message):
    __slots__ = ("day", "revenue_minor", "lower_minor", "upper_minor")
    DAY_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    LOWER_MINOR_FIELD_NUMBER: _ClassVar[int]
    UPPER_MINOR_FIELD_NUMBER: _ClassVar[int]
    day: str
    revenue_minor: float
    lower_minor: float
    upper_minor: float
    def __init__(self, day: _Optional[str] = ..., revenue_minor: _Optional[float] = ..., lower_minor: _Optional[float] = ..., upper_minor: _Optional[float] = ...) -> None: ...

class ForecastBacktest(_message.Message):
    __slots__ = ("model", "horizon_days", "mae", "mape", "interval_coverage")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    HORIZON_DAYS_FIELD_NUMBER: _ClassVar[int]
    MAE_FIELD_NUMBER: _ClassVar[int]
    MAPE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    model: str
    horizon_days: int
    mae: float
    mape: float
    interval_coverage: float
    def __init__(self, model: _Optional[str] = ..., horizon_days: _Optional[int] = ..., mae: _Optional[float] = ..., mape: _Optional[float] = ..., interval_coverage: _Optional[float] = ...) -> None: ...

class GetForecastResponse(_message.Message):
    __slots__ = ("category", "model", "interval", "points", "backtest", "tables_read")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BACKTEST_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    category: str
    model: str
    interval: float
    points: _containers.RepeatedCompositeFieldContainer[ForecastPoint]
    backtest: _containers.RepeatedCompositeFieldContainer[ForecastBacktest]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, category: _Optional[str] = ..., model: _Optional[str] = ..., interval: _Optional[float] = ..., points: _Optional[_Iterable[_Union[ForecastPoint, _Mapping]]] = ..., backtest: _Optional[_Iterable[_Union[ForecastBacktest, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class GetDataQualityRequest(_message.Message):
    __slots__ = ("source_table", "at")
    SOURCE_TABLE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    source_table: str
    at: LakeAt
    def __init__(self, source_table: _Optional[str] = ..., at: _Optional[_Union[LakeAt, _Mapping]] = ...) -> None: ...

class QualityMetric(_message.Message):
    __slots__ = ("source_table", "metric", "subject", "value", "value_text", "recorded_time")
    SOURCE_TABLE_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_TEXT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_TIME_FIELD_NUMBER: _ClassVar[int]
    source_table: str
    metric: str
    subject: str
    value: float
    value_text: str
    recorded_time: _timestamp_pb2.Timestamp
    def __init__(self, source_table: _Optional[str] = ..., metric: _Optional[str] = ..., subject: _Optional[str] = ..., value: _Optional[float] = ..., value_text: _Optional[str] = ..., recorded_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetDataQualityResponse(_message.Message):
    __slots__ = ("metrics", "tables_read")
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TABLES_READ_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[QualityMetric]
    tables_read: _containers.RepeatedCompositeFieldContainer[TableRead]
    def __init__(self, metrics: _Optional[_Iterable[_Union[QualityMetric, _Mapping]]] = ..., tables_read: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ...) -> None: ...

class ListTablesRequest(_message.Message):
    __slots__ = ("layer",)
    LAYER_FIELD_NUMBER: _ClassVar[int]
    layer: str
    def __init__(self, layer: _Optional[str] = ...) -> None: ...

class TableInfo(_message.Message):
    __slots__ = ("table", "layer", "description", "exists", "version", "commit_time", "files", "size_bytes", "rows", "filled_by", "last_optimize_time", "last_vacuum_time")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FILLED_BY_FIELD_NUMBER: _ClassVar[int]
    LAST_OPTIMIZE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_VACUUM_TIME_FIELD_NUMBER: _ClassVar[int]
    table: str
    layer: str
    description: str
    exists: bool
    version: int
    commit_time: _timestamp_pb2.Timestamp
    files: int
    size_bytes: int
    rows: int
    filled_by: str
    last_optimize_time: _timestamp_pb2.Timestamp
    last_vacuum_time: _timestamp_pb2.Timestamp
    def __init__(self, table: _Optional[str] = ..., layer: _Optional[str] = ..., description: _Optional[str] = ..., exists: _Optional[bool] = ..., version: _Optional[int] = ..., commit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., files: _Optional[int] = ..., size_bytes: _Optional[int] = ..., rows: _Optional[int] = ..., filled_by: _Optional[str] = ..., last_optimize_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_vacuum_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTablesResponse(_message.Message):
    __slots__ = ("tables",)
    TABLES_FIELD_NUMBER: _ClassVar[int]
    tables: _containers.RepeatedCompositeFieldContainer[TableInfo]
    def __init__(self, tables: _Optional[_Iterable[_Union[TableInfo, _Mapping]]] = ...) -> None: ...

class GetTableHistoryRequest(_message.Message):
    __slots__ = ("table", "limit")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    table: str
    limit: int
    def __init__(self, table: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class TableCommit(_message.Message):
    __slots__ = ("version", "commit_time", "operation", "parameters", "metrics")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    version: int
    commit_time: _timestamp_pb2.Timestamp
    operation: str
    parameters: _containers.ScalarMap[str, str]
    metrics: _containers.ScalarMap[str, str]
    def __init__(self, version: _Optional[int] = ..., commit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., operation: _Optional[str] = ..., parameters: _Optional[_Mapping[str, str]] = ..., metrics: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetTableHistoryResponse(_message.Message):
    __slots__ = ("commits",)
    COMMITS_FIELD_NUMBER: _ClassVar[int]
    commits: _containers.RepeatedCompositeFieldContainer[TableCommit]
    def __init__(self, commits: _Optional[_Iterable[_Union[TableCommit, _Mapping]]] = ...) -> None: ...

class WatchKpisRequest(_message.Message):
    __slots__ = ("since_time", "countries", "channels")
    SINCE_TIME_FIELD_NUMBER: _ClassVar[int]
    COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    since_time: _timestamp_pb2.Timestamp
    countries: _containers.RepeatedScalarFieldContainer[str]
    channels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, since_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., countries: _Optional[_Iterable[str]] = ..., channels: _Optional[_Iterable[str]] = ...) -> None: ...

class KpiMinute(_message.Message):
    __slots__ = ("minute", "country", "channel", "currency", "category", "orders", "units", "revenue_minor", "unique_customers", "decisions", "approved", "reviewed", "declined", "version")
    MINUTE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_FIELD_NUMBER: _ClassVar[int]
    DECLINED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    minute: _timestamp_pb2.Timestamp
    country: str
    channel: str
    currency: str
    category: str
    orders: int
    units: int
    revenue_minor: int
    unique_customers: int
    decisions: int
    approved: int
    reviewed: int
    declined: int
    version: int
    def __init__(self, minute: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., country: _Optional[str] = ..., channel: _Optional[str] = ..., currency: _Optional[str] = ..., category: _Optional[str] = ..., orders: _Optional[int] = ..., units: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., unique_customers: _Optional[int] = ..., decisions: _Optional[int] = ..., approved: _Optional[int] = ..., reviewed: _Optional[int] = ..., declined: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...
