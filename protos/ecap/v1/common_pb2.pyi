import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeviceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_TYPE_UNSPECIFIED: _ClassVar[DeviceType]
    DEVICE_TYPE_DESKTOP: _ClassVar[DeviceType]
    DEVICE_TYPE_MOBILE: _ClassVar[DeviceType]
    DEVICE_TYPE_TABLET: _ClassVar[DeviceType]
    DEVICE_TYPE_APP: _ClassVar[DeviceType]

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_DIRECT: _ClassVar[Channel]
    CHANNEL_ORGANIC_SEARCH: _ClassVar[Channel]
    CHANNEL_PAID_SEARCH: _ClassVar[Channel]
    CHANNEL_SOCIAL: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_AFFILIATE: _ClassVar[Channel]
    CHANNEL_DISPLAY: _ClassVar[Channel]
    CHANNEL_REFERRAL: _ClassVar[Channel]

class PaymentMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_METHOD_UNSPECIFIED: _ClassVar[PaymentMethod]
    PAYMENT_METHOD_CARD: _ClassVar[PaymentMethod]
    PAYMENT_METHOD_WALLET: _ClassVar[PaymentMethod]
    PAYMENT_METHOD_BANK_TRANSFER: _ClassVar[PaymentMethod]
    PAYMENT_METHOD_BUY_NOW_PAY_LATER: _ClassVar[PaymentMethod]
    PAYMENT_METHOD_GIFT_CARD: _ClassVar[PaymentMethod]

class BehaviorEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BEHAVIOR_EVENT_TYPE_UNSPECIFIED: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_PAGE_VIEW: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_PRODUCT_VIEW: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_SEARCH: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_ADD_TO_CART: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_REMOVE_FROM_CART: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_BEGIN_CHECKOUT: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_PURCHASE: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_MARKETING_TOUCH: _ClassVar[BehaviorEventType]

class DecisionOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_OUTCOME_UNSPECIFIED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_APPROVE: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_REVIEW: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_DECLINE: _ClassVar[DecisionOutcome]

class ReasonSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_SOURCE_UNSPECIFIED: _ClassVar[ReasonSource]
    REASON_SOURCE_RULE: _ClassVar[ReasonSource]
    REASON_SOURCE_MODEL: _ClassVar[ReasonSource]
    REASON_SOURCE_SYSTEM: _ClassVar[ReasonSource]

class CaseOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_OUTCOME_UNSPECIFIED: _ClassVar[CaseOutcome]
    CASE_OUTCOME_CONFIRMED_FRAUD: _ClassVar[CaseOutcome]
    CASE_OUTCOME_FALSE_POSITIVE: _ClassVar[CaseOutcome]
    CASE_OUTCOME_INCONCLUSIVE: _ClassVar[CaseOutcome]

class CaseAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_ACTION_UNSPECIFIED: _ClassVar[CaseAction]
    CASE_ACTION_CREATED: _ClassVar[CaseAction]
    CASE_ACTION_UPDATED: _ClassVar[CaseAction]
    CASE_ACTION_CLAIMED: _ClassVar[CaseAction]
    CASE_ACTION_ASSIGNED: _ClassVar[CaseAction]
    CASE_ACTION_ESCALATED: _ClassVar[CaseAction]
    CASE_ACTION_NOTE_ADDED: _ClassVar[CaseAction]
    CASE_ACTION_EVIDENCE_ADDED: _ClassVar[CaseAction]
    CASE_ACTION_RESOLVED: _ClassVar[CaseAction]
    CASE_ACTION_REOPENED: _ClassVar[CaseAction]
    CASE_ACTION_ALERT_ATTACHED: _ClassVar[CaseAction]
DEVICE_TYPE_UNSPECIFIED: DeviceType
DEVICE_TYPE_DESKTOP: DeviceType
DEVICE_TYPE_MOBILE: DeviceType
DEVICE_TYPE_TABLET: DeviceType
DEVICE_TYPE_APP: DeviceType
CHANNEL_UNSPECIFIED: Channel
CHANNEL_DIRECT: Channel
CHANNEL_ORGANIC_SEARCH: Channel
CHANNEL_PAID_SEARCH: Channel
CHANNEL_SOCIAL: Channel
CHANNEL_EMAIL: Channel
CHANNEL_AFFILIATE: Channel
CHANNEL_DISPLAY: Channel
CHANNEL_REFERRAL: Channel
PAYMENT_METHOD_UNSPECIFIED: PaymentMethod
PAYMENT_METHOD_CARD: PaymentMethod
PAYMENT_METHOD_WALLET: PaymentMethod
PAYMENT_METHOD_BANK_TRANSFER: PaymentMethod
PAYMENT_METHOD_BUY_NOW_PAY_LATER: PaymentMethod
PAYMENT_METHOD_GIFT_CARD: PaymentMethod
BEHAVIOR_EVENT_TYPE_UNSPECIFIED: BehaviorEventType
BEHAVIOR_EVENT_TYPE_PAGE_VIEW: BehaviorEventType
BEHAVIOR_EVENT_TYPE_PRODUCT_VIEW: BehaviorEventType
BEHAVIOR_EVENT_TYPE_SEARCH: BehaviorEventType
BEHAVIOR_EVENT_TYPE_ADD_TO_CART: BehaviorEventType
BEHAVIOR_EVENT_TYPE_REMOVE_FROM_CART: BehaviorEventType
BEHAVIOR_EVENT_TYPE_BEGIN_CHECKOUT: BehaviorEventType
BEHAVIOR_EVENT_TYPE_PURCHASE: BehaviorEventType
BEHAVIOR_EVENT_TYPE_MARKETING_TOUCH: BehaviorEventType
DECISION_OUTCOME_UNSPECIFIED: DecisionOutcome
DECISION_OUTCOME_APPROVE: DecisionOutcome
DECISION_OUTCOME_REVIEW: DecisionOutcome
DECISION_OUTCOME_DECLINE: DecisionOutcome
REASON_SOURCE_UNSPECIFIED: ReasonSource
REASON_SOURCE_RULE: ReasonSource
REASON_SOURCE_MODEL: ReasonSource
REASON_SOURCE_SYSTEM: ReasonSource
CASE_OUTCOME_UNSPECIFIED: CaseOutcome
CASE_OUTCOME_CONFIRMED_FRAUD: CaseOutcome
CASE_OUTCOME_FALSE_POSITIVE: CaseOutcome
CASE_OUTCOME_INCONCLUSIVE: CaseOutcome
CASE_ACTION_UNSPECIFIED: CaseAction
CASE_ACTION_CREATED: CaseAction
CASE_ACTION_UPDATED: CaseAction
CASE_ACTION_CLAIMED: CaseAction
CASE_ACTION_ASSIGNED: CaseAction
CASE_ACTION_ESCALATED: CaseAction
CASE_ACTION_NOTE_ADDED: CaseAction
CASE_ACTION_EVIDENCE_ADDED: CaseAction
CASE_ACTION_RESOLVED: CaseAction
CASE_ACTION_REOPENED: CaseAction
CASE_ACTION_ALERT_ATTACHED: CaseAction

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class GeoPoint(_message.Message):
    __slots__ = ("latitude", "longitude")
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    latitude: float
    longitude: float
    def __init__(self, latitude: _Optional[float] = ..., longitude: _Optional[float] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("country", "region", "city", "point")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    country: str
    region: str
    city: str
    point: GeoPoint
    def __init__(self, country: _Optional[str] = ..., region: _Optional[str] = ..., city: _Optional[str] = ..., point: _Optional[_Union[GeoPoint, _Mapping]] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("device_id", "type", "os", "user_agent")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    type: DeviceType
    os: str
    user_agent: str
    def __init__(self, device_id: _Optional[str] = ..., type: _Optional[_Union[DeviceType, str]] = ..., os: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("customer_id", "email", "full_name", "home", "signed_up_at", "acquisition_channel", "updated_at")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    HOME_FIELD_NUMBER: _ClassVar[int]
    SIGNED_UP_AT_FIELD_NUMBER: _ClassVar[int]
    ACQUISITION_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    email: str
    full_name: str
    home: Location
    signed_up_at: _timestamp_pb2.Timestamp
    acquisition_channel: Channel
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., email: _Optional[str] = ..., full_name: _Optional[str] = ..., home: _Optional[_Union[Location, _Mapping]] = ..., signed_up_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acquisition_channel: _Optional[_Union[Channel, str]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("product_id", "name", "category_path", "brand", "price", "unit_cost", "stock", "active", "updated_at")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_PATH_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    UNIT_COST_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    category_path: _containers.RepeatedScalarFieldContainer[str]
    brand: str
    price: Money
    unit_cost: Money
    stock: int
    active: bool
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ..., category_path: _Optional[_Iterable[str]] = ..., brand: _Optional[str] = ..., price: _Optional[_Union[Money, _Mapping]] = ..., unit_cost: _Optional[_Union[Money, _Mapping]] = ..., stock: _Optional[int] = ..., active: _Optional[bool] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LineItem(_message.Message):
    __slots__ = ("product_id", "quantity", "unit_price")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    quantity: int
    unit_price: Money
    def __init__(self, product_id: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("transaction_id", "customer_id", "merchant_id", "session_id", "amount", "items", "payment_method", "card_fingerprint", "device", "ip_address", "location", "channel", "occurred_at")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_FIELD_NUMBER: _ClassVar[int]
    CARD_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    customer_id: str
    merchant_id: str
    session_id: str
    amount: Money
    items: _containers.RepeatedCompositeFieldContainer[LineItem]
    payment_method: PaymentMethod
    card_fingerprint: str
    device: Device
    ip_address: str
    location: Location
    channel: Channel
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, transaction_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., items: _Optional[_Iterable[_Union[LineItem, _Mapping]]] = ..., payment_method: _Optional[_Union[PaymentMethod, str]] = ..., card_fingerprint: _Optional[str] = ..., device: _Optional[_Union[Device, _Mapping]] = ..., ip_address: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., channel: _Optional[_Union[Channel, str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MarketingTouch(_message.Message):
    __slots__ = ("channel", "campaign", "utm_source", "utm_medium", "utm_campaign")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    UTM_SOURCE_FIELD_NUMBER: _ClassVar[int]
    UTM_MEDIUM_FIELD_NUMBER: _ClassVar[int]
    UTM_CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    campaign: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., campaign: _Optional[str] = ..., utm_source: _Optional[str] = ..., utm_medium: _Optional[str] = ..., utm_campaign: _Optional[str] = ...) -> None: ...

class BehaviorEvent(_message.Message):
    __slots__ = ("event_id", "type", "session_id", "customer_id", "occurred_at", "device", "ip_address", "page_url", "product_id", "search_query", "quantity", "transaction_id", "touch", "location")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PAGE_URL_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SEARCH_QUERY_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    TOUCH_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: BehaviorEventType
    session_id: str
    customer_id: str
    occurred_at: _timestamp_pb2.Timestamp
    device: Device
    ip_address: str
    page_url: str
    product_id: str
    search_query: str
    quantity: int
    transaction_id: str
    touch: MarketingTouch
    location: Location
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[_Union[BehaviorEventType, str]] = ..., session_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., device: _Optional[_Union[Device, _Mapping]] = ..., ip_address: _Optional[str] = ..., page_url: _Optional[str] = ..., product_id: _Optional[str] = ..., search_query: _Optional[str] = ..., quantity: _Optional[int] = ..., transaction_id: _Optional[str] = ..., touch: _Optional[_Union[MarketingTouch, _Mapping]] = ..., location: _Optional[_Union[Location, _Mapping]] = ...) -> None: ...

class DecisionReason(_message.Message):
    __slots__ = ("code", "description", "source", "contribution")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    code: str
    description: str
    source: ReasonSource
    contribution: float
    def __init__(self, code: _Optional[str] = ..., description: _Optional[str] = ..., source: _Optional[_Union[ReasonSource, str]] = ..., contribution: _Optional[float] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("decision_id", "transaction_id", "customer_id", "outcome", "risk_score", "reasons", "model_tag", "rules_version", "degraded", "latency", "decided_at", "amount", "merchant_id", "features")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RISK_SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_TAG_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    transaction_id: str
    customer_id: str
    outcome: DecisionOutcome
    risk_score: float
    reasons: _containers.RepeatedCompositeFieldContainer[DecisionReason]
    model_tag: str
    rules_version: str
    degraded: bool
    latency: _duration_pb2.Duration
    decided_at: _timestamp_pb2.Timestamp
    amount: Money
    merchant_id: str
    features: _containers.ScalarMap[str, float]
    def __init__(self, decision_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., outcome: _Optional[_Union[DecisionOutcome, str]] = ..., risk_score: _Optional[float] = ..., reasons: _Optional[_Iterable[_Union[DecisionReason, _Mapping]]] = ..., model_tag: _Optional[str] = ..., rules_version: _Optional[str] = ..., degraded: _Optional[bool] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., merchant_id: _Optional[str] = ..., features: _Optional[_Mapping[str, float]] = ...) -> None: ...

class FraudAlert(_message.Message):
    __slots__ = ("alert_id", "decision", "transaction", "raised_at")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    decision: Decision
    transaction: Transaction
    raised_at: _timestamp_pb2.Timestamp
    def __init__(self, alert_id: _Optional[str] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., transaction: _Optional[_Union[Transaction, _Mapping]] = ..., raised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CaseEvent(_message.Message):
    __slots__ = ("event_id", "case_id", "action", "actor", "occurred_at", "transaction_ids", "customer_id", "outcome", "note")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_IDS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    case_id: str
    action: CaseAction
    actor: str
    occurred_at: _timestamp_pb2.Timestamp
    transaction_ids: _containers.RepeatedScalarFieldContainer[str]
    customer_id: str
    outcome: CaseOutcome
    note: str
    def __init__(self, event_id: _Optional[str] = ..., case_id: _Optional[str] = ..., action: _Optional[_Union[CaseAction, str]] = ..., actor: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., transaction_ids: _Optional[_Iterable[str]] = ..., customer_id: _Optional[str] = ..., outcome: _Optional[_Union[CaseOutcome, str]] = ..., note: _Optional[str] = ...) -> None: ...
