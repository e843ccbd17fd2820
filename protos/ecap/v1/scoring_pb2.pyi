import datetime

from buf.validate import validate_pb2 as _validate_pb2
from ecap.v1 import common_pb2 as _common_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChurnRiskBand(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHURN_RISK_BAND_UNSPECIFIED: _ClassVar[ChurnRiskBand]
    CHURN_RISK_BAND_LOW: _ClassVar[ChurnRiskBand]
    CHURN_RISK_BAND_MEDIUM: _ClassVar[ChurnRiskBand]
    CHURN_RISK_BAND_HIGH: _ClassVar[ChurnRiskBand]

class RuleAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULE_ACTION_UNSPECIFIED: _ClassVar[RuleAction]
    RULE_ACTION_REVIEW: _ClassVar[RuleAction]
    RULE_ACTION_DECLINE: _ClassVar[RuleAction]
    RULE_ACTION_ALLOW: _ClassVar[RuleAction]
CHURN_RISK_BAND_UNSPECIFIED: ChurnRiskBand
CHURN_RISK_BAND_LOW: ChurnRiskBand
CHURN_RISK_BAND_MEDIUM: ChurnRiskBand
CHURN_RISK_BAND_HIGH: ChurnRiskBand
RULE_ACTION_UNSPECIFIED: RuleAction
RULE_ACTION_REVIEW: RuleAction
RULE_ACTION_DECLINE: RuleAction
RULE_ACTION_ALLOW: RuleAction

class ScoreTransactionRequest(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: _common_pb2.Transaction
    def __init__(self, transaction: _Optional[_Union[_common_pb2.Transaction, _Mapping]] = ...) -> None: ...

class ScoreTransactionResponse(_message.Message):
    __slots__ = ("decision", "replayed")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    decision: _common_pb2.Decision
    replayed: bool
    def __init__(self, decision: _Optional[_Union[_common_pb2.Decision, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class PredictChurnRequest(_message.Message):
    __slots__ = ("customer_id", "as_of_time")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PredictChurnResponse(_message.Message):
    __slots__ = ("customer_id", "probability", "risk_band", "drivers", "model_tag", "features", "as_of_time")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    RISK_BAND_FIELD_NUMBER: _ClassVar[int]
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    MODEL_TAG_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    probability: float
    risk_band: ChurnRiskBand
    drivers: _containers.RepeatedCompositeFieldContainer[_common_pb2.DecisionReason]
    model_tag: str
    features: _containers.ScalarMap[str, float]
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., probability: _Optional[float] = ..., risk_band: _Optional[_Union[ChurnRiskBand, str]] = ..., drivers: _Optional[_Iterable[_Union[_common_pb2.DecisionReason, _Mapping]]] = ..., model_tag: _Optional[str] = ..., features: _Optional[_Mapping[str, float]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Rule(_message.Message):
    __slots__ = ("name", "rule_id", "display_name", "description", "expression", "action", "reason_code", "enabled", "etag", "rules_version", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    rule_id: str
    display_name: str
    description: str
    expression: str
    action: RuleAction
    reason_code: str
    enabled: bool
    etag: str
    rules_version: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., rule_id: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., expression: _Optional[str] = ..., action: _Optional[_Union[RuleAction, str]] = ..., reason_code: _Optional[str] = ..., enabled: _Optional[bool] = ..., etag: _Optional[str] = ..., rules_version: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListRulesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRulesResponse(_message.Message):
    __slots__ = ("rules", "next_page_token", "rules_version")
    RULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    next_page_token: str
    rules_version: str
    def __init__(self, rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., rules_version: _Optional[str] = ...) -> None: ...

class GetRuleRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class CreateRuleRequest(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class UpdateRuleRequest(_message.Message):
    __slots__ = ("rule", "update_mask")
    RULE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteRuleRequest(_message.Message):
    __slots__ = ("rule_id", "etag")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    etag: str
    def __init__(self, rule_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class TestRuleRequest(_message.Message):
    __slots__ = ("rule", "days")
    RULE_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    days: int
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ..., days: _Optional[int] = ...) -> None: ...

class TestRuleResponse(_message.Message):
    __slots__ = ("evaluated", "hits", "hit_rate", "labelled_hits", "fraud_hits", "precision", "fraud_total", "recall", "errors", "period_start", "period_end", "elapsed")
    EVALUATED_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    LABELLED_HITS_FIELD_NUMBER: _ClassVar[int]
    FRAUD_HITS_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    FRAUD_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    evaluated: int
    hits: int
    hit_rate: float
    labelled_hits: int
    fraud_hits: int
    precision: float
    fraud_total: int
    recall: float
    errors: int
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    elapsed: _duration_pb2.Duration
    def __init__(self, evaluated: _Optional[int] = ..., hits: _Optional[int] = ..., hit_rate: _Optional[float] = ..., labelled_hits: _Optional[int] = ..., fraud_hits: _Optional[int] = ..., precision: _Optional[float] = ..., fraud_total: _Optional[int] = ..., recall: _Optional[float] = ..., errors: _Optional[int] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
