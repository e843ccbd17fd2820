import datetime

from buf.validate import validate_pb2 as _validate_pb2
from ecap.v1 import common_pb2 as _common_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_STATUS_UNSPECIFIED: _ClassVar[CaseStatus]
    CASE_STATUS_OPEN: _ClassVar[CaseStatus]
    CASE_STATUS_IN_REVIEW: _ClassVar[CaseStatus]
    CASE_STATUS_ESCALATED: _ClassVar[CaseStatus]
    CASE_STATUS_RESOLVED: _ClassVar[CaseStatus]

class CasePriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_PRIORITY_UNSPECIFIED: _ClassVar[CasePriority]
    CASE_PRIORITY_LOW: _ClassVar[CasePriority]
    CASE_PRIORITY_MEDIUM: _ClassVar[CasePriority]
    CASE_PRIORITY_HIGH: _ClassVar[CasePriority]
    CASE_PRIORITY_CRITICAL: _ClassVar[CasePriority]

class CaseOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_ORDER_UNSPECIFIED: _ClassVar[CaseOrder]
    CASE_ORDER_PRIORITY: _ClassVar[CaseOrder]
    CASE_ORDER_CREATE_TIME: _ClassVar[CaseOrder]
    CASE_ORDER_CREATE_TIME_DESC: _ClassVar[CaseOrder]
    CASE_ORDER_DUE_TIME: _ClassVar[CaseOrder]
CASE_STATUS_UNSPECIFIED: CaseStatus
CASE_STATUS_OPEN: CaseStatus
CASE_STATUS_IN_REVIEW: CaseStatus
CASE_STATUS_ESCALATED: CaseStatus
CASE_STATUS_RESOLVED: CaseStatus
CASE_PRIORITY_UNSPECIFIED: CasePriority
CASE_PRIORITY_LOW: CasePriority
CASE_PRIORITY_MEDIUM: CasePriority
CASE_PRIORITY_HIGH: CasePriority
CASE_PRIORITY_CRITICAL: CasePriority
CASE_ORDER_UNSPECIFIED: CaseOrder
CASE_ORDER_PRIORITY: CaseOrder
CASE_ORDER_CREATE_TIME: CaseOrder
CASE_ORDER_CREATE_TIME_DESC: CaseOrder
CASE_ORDER_DUE_TIME: CaseOrder

class Note(_message.Message):
    __slots__ = ("note_id", "author", "text", "create_time")
    NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    note_id: str
    author: str
    text: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, note_id: _Optional[str] = ..., author: _Optional[str] = ..., text: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TransactionEvidence(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class DeviceEvidence(_message.Message):
    __slots__ = ("device_id", "ip_address")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    ip_address: str
    def __init__(self, device_id: _Optional[str] = ..., ip_address: _Optional[str] = ...) -> None: ...

class DocumentEvidence(_message.Message):
    __slots__ = ("uri", "sha256", "title")
    URI_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    uri: str
    sha256: str
    title: str
    def __init__(self, uri: _Optional[str] = ..., sha256: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class ExternalCheckEvidence(_message.Message):
    __slots__ = ("provider", "check", "result")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    provider: str
    check: str
    result: str
    def __init__(self, provider: _Optional[str] = ..., check: _Optional[str] = ..., result: _Optional[str] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("evidence_id", "transaction", "device", "document", "external_check", "description", "added_by", "add_time")
    EVIDENCE_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CHECK_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ADDED_BY_FIELD_NUMBER: _ClassVar[int]
    ADD_TIME_FIELD_NUMBER: _ClassVar[int]
    evidence_id: str
    transaction: TransactionEvidence
    device: DeviceEvidence
    document: DocumentEvidence
    external_check: ExternalCheckEvidence
    description: str
    added_by: str
    add_time: _timestamp_pb2.Timestamp
    def __init__(self, evidence_id: _Optional[str] = ..., transaction: _Optional[_Union[TransactionEvidence, _Mapping]] = ..., device: _Optional[_Union[DeviceEvidence, _Mapping]] = ..., document: _Optional[_Union[DocumentEvidence, _Mapping]] = ..., external_check: _Optional[_Union[ExternalCheckEvidence, _Mapping]] = ..., description: _Optional[str] = ..., added_by: _Optional[str] = ..., add_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Case(_message.Message):
    __slots__ = ("case_id", "queue", "status", "priority", "priority_score", "risk_score", "amount", "customer_id", "customer_email", "card_fingerprint", "ip_address", "transaction_ids", "title", "description", "assignee", "outcome", "resolution_note", "reasons", "notes", "evidence", "create_time", "update_time", "due_time", "resolve_time", "sla_breached", "etag")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    RISK_SCORE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    CARD_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_IDS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_NOTE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACHED_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    queue: str
    status: CaseStatus
    priority: CasePriority
    priority_score: float
    risk_score: float
    amount: _common_pb2.Money
    customer_id: str
    customer_email: str
    card_fingerprint: str
    ip_address: str
    transaction_ids: _containers.RepeatedScalarFieldContainer[str]
    title: str
    description: str
    assignee: str
    outcome: _common_pb2.CaseOutcome
    resolution_note: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    notes: _containers.RepeatedCompositeFieldContainer[Note]
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    due_time: _timestamp_pb2.Timestamp
    resolve_time: _timestamp_pb2.Timestamp
    sla_breached: bool
    etag: str
    def __init__(self, case_id: _Optional[str] = ..., queue: _Optional[str] = ..., status: _Optional[_Union[CaseStatus, str]] = ..., priority: _Optional[_Union[CasePriority, str]] = ..., priority_score: _Optional[float] = ..., risk_score: _Optional[float] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., customer_id: _Optional[str] = ..., customer_email: _Optional[str] = ..., card_fingerprint: _Optional[str] = ..., ip_address: _Optional[str] = ..., transaction_ids: _Optional[_Iterable[str]] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., assignee: _Optional[str] = ..., outcome: _Optional[_Union[_common_pb2.CaseOutcome, str]] = ..., resolution_note: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., notes: _Optional[_Iterable[_Union[Note, _Mapping]]] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sla_breached: _Optional[bool] = ..., etag: _Optional[str] = ...) -> None: ...

class GetCaseRequest(_message.Message):
    __slots__ = ("case_id",)
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    def __init__(self, case_id: _Optional[str] = ...) -> None: ...

class ListCasesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "statuses", "priorities", "assignee", "queue", "customer_id", "create_time_from", "create_time_to", "due_time_from", "due_time_to", "order")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PRIORITIES_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FROM_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_TO_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FROM_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_TO_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    statuses: _containers.RepeatedScalarFieldContainer[CaseStatus]
    priorities: _containers.RepeatedScalarFieldContainer[CasePriority]
    assignee: str
    queue: str
    customer_id: str
    create_time_from: _timestamp_pb2.Timestamp
    create_time_to: _timestamp_pb2.Timestamp
    due_time_from: _timestamp_pb2.Timestamp
    due_time_to: _timestamp_pb2.Timestamp
    order: CaseOrder
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[CaseStatus, str]]] = ..., priorities: _Optional[_Iterable[_Union[CasePriority, str]]] = ..., assignee: _Optional[str] = ..., queue: _Optional[str] = ..., customer_id: _Optional[str] = ..., create_time_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_time_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_time_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., order: _Optional[_Union[CaseOrder, str]] = ...) -> None: ...

class ListCasesResponse(_message.Message):
    __slots__ = ("cases", "next_page_token")
    CASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cases: _containers.RepeatedCompositeFieldContainer[Case]
    next_page_token: str
    def __init__(self, cases: _Optional[_Iterable[_Union[Case, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateCaseRequest(_message.Message):
    __slots__ = ("case", "request_id")
    CASE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    case: Case
    request_id: str
    def __init__(self, case: _Optional[_Union[Case, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateCaseRequest(_message.Message):
    __slots__ = ("case", "update_mask")
    CASE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    case: Case
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, case: _Optional[_Union[Case, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ClaimNextCaseRequest(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, queues: _Optional[_Iterable[str]] = ...) -> None: ...

class ClaimNextCaseResponse(_message.Message):
    __slots__ = ("case",)
    CASE_FIELD_NUMBER: _ClassVar[int]
    case: Case
    def __init__(self, case: _Optional[_Union[Case, _Mapping]] = ...) -> None: ...

class AssignCaseRequest(_message.Message):
    __slots__ = ("case_id", "assignee", "etag")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    assignee: str
    etag: str
    def __init__(self, case_id: _Optional[str] = ..., assignee: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class EscalateCaseRequest(_message.Message):
    __slots__ = ("case_id", "reason", "etag")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    reason: str
    etag: str
    def __init__(self, case_id: _Optional[str] = ..., reason: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class AddNoteRequest(_message.Message):
    __slots__ = ("case_id", "text")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    text: str
    def __init__(self, case_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class AddEvidenceRequest(_message.Message):
    __slots__ = ("case_id", "evidence")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    evidence: Evidence
    def __init__(self, case_id: _Optional[str] = ..., evidence: _Optional[_Union[Evidence, _Mapping]] = ...) -> None: ...

class ResolveCaseRequest(_message.Message):
    __slots__ = ("case_id", "outcome", "note", "etag")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    outcome: _common_pb2.CaseOutcome
    note: str
    etag: str
    def __init__(self, case_id: _Optional[str] = ..., outcome: _Optional[_Union[_common_pb2.CaseOutcome, str]] = ..., note: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class ReopenCaseRequest(_message.Message):
    __slots__ = ("case_id", "reason", "etag")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    reason: str
    etag: str
    def __init__(self, case_id: _Optional[str] = ..., reason: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class CaseAuditEvent(_message.Message):
    __slots__ = ("event_id", "case_id", "action", "actor", "occur_time", "before", "after", "sequence")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    case_id: str
    action: _common_pb2.CaseAction
    actor: str
    occur_time: _timestamp_pb2.Timestamp
    before: _struct_pb2.Struct
    after: _struct_pb2.Struct
    sequence: int
    def __init__(self, event_id: _Optional[str] = ..., case_id: _Optional[str] = ..., action: _Optional[_Union[_common_pb2.CaseAction, str]] = ..., actor: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., before: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., after: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...

class ListCaseEventsRequest(_message.Message):
    __slots__ = ("case_id", "page_size", "page_token")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    page_size: int
    page_token: str
    def __init__(self, case_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCaseEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[CaseAuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[CaseAuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchCasesRequest(_message.Message):
    __slots__ = ("queues", "case_id")
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedScalarFieldContainer[str]
    case_id: str
    def __init__(self, queues: _Optional[_Iterable[str]] = ..., case_id: _Optional[str] = ...) -> None: ...

class WatchCasesResponse(_message.Message):
    __slots__ = ("heartbeat", "event", "case")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CASE_FIELD_NUMBER: _ClassVar[int]
    heartbeat: bool
    event: CaseAuditEvent
    case: Case
    def __init__(self, heartbeat: _Optional[bool] = ..., event: _Optional[_Union[CaseAuditEvent, _Mapping]] = ..., case: _Optional[_Union[Case, _Mapping]] = ...) -> None: ...

class GetQueueStatsRequest(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, queues: _Optional[_Iterable[str]] = ...) -> None: ...

class PriorityBacklog(_message.Message):
    __slots__ = ("priority", "open", "in_progress", "oldest_age", "sla_breached", "sla_at_risk")
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    IN_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    OLDEST_AGE_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACHED_FIELD_NUMBER: _ClassVar[int]
    SLA_AT_RISK_FIELD_NUMBER: _ClassVar[int]
    priority: CasePriority
    open: int
    in_progress: int
    oldest_age: _duration_pb2.Duration
    sla_breached: int
    sla_at_risk: int
    def __init__(self, priority: _Optional[_Union[CasePriority, str]] = ..., open: _Optional[int] = ..., in_progress: _Optional[int] = ..., oldest_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., sla_breached: _Optional[int] = ..., sla_at_risk: _Optional[int] = ...) -> None: ...

class InvestigatorWorkload(_message.Message):
    __slots__ = ("assignee", "in_review", "escalated", "resolved")
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    IN_REVIEW_FIELD_NUMBER: _ClassVar[int]
    ESCALATED_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    assignee: str
    in_review: int
    escalated: int
    resolved: int
    def __init__(self, assignee: _Optional[str] = ..., in_review: _Optional[int] = ..., escalated: _Optional[int] = ..., resolved: _Optional[int] = ...) -> None: ...

class OutcomeRate(_message.Message):
    __slots__ = ("outcome", "count", "rate")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    outcome: _common_pb2.CaseOutcome
    count: int
    rate: float
    def __init__(self, outcome: _Optional[_Union[_common_pb2.CaseOutcome, str]] = ..., count: _Optional[int] = ..., rate: _Optional[float] = ...) -> None: ...

class QueueStats(_message.Message):
    __slots__ = ("compute_time", "backlog", "sla_breached", "sla_at_risk", "workload", "resolution_rates", "window", "resolved_late")
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACHED_FIELD_NUMBER: _ClassVar[int]
    SLA_AT_RISK_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_RATES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_LATE_FIELD_NUMBER: _ClassVar[int]
    compute_time: _timestamp_pb2.Timestamp
    backlog: _containers.RepeatedCompositeFieldContainer[PriorityBacklog]
    sla_breached: int
    sla_at_risk: int
    workload: _containers.RepeatedCompositeFieldContainer[InvestigatorWorkload]
    resolution_rates: _containers.RepeatedCompositeFieldContainer[OutcomeRate]
    window: _duration_pb2.Duration
    resolved_late: int
    def __init__(self, compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., backlog: _Optional[_Iterable[_Union[PriorityBacklog, _Mapping]]] = ..., sla_breached: _Optional[int] = ..., sla_at_risk: _Optional[int] = ..., workload: _Optional[_Iterable[_Union[InvestigatorWorkload, _Mapping]]] = ..., resolution_rates: _Optional[_Iterable[_Union[OutcomeRate, _Mapping]]] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., resolved_late: _Optional[int] = ...) -> None: ...
