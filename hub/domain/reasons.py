"""Why a message was parked, an answer refused or an operation failed for good: one word each.

``Reason`` values travel as they are: in dead letters (``Dead.reason``, the bus's parking lots,
``hub dlq``), in the ``reason`` label of ``hub_dead_letters_total`` and
``hub_results_refused_total``, in audit entries and in API problem codes (``callback.<reason>``).
A ``StrEnum``: a member *is* its string, so nothing on the wire or in the store changes.
"""

from __future__ import annotations

import enum

__all__ = ["Reason"]


class Reason(enum.StrEnum):
    # a department refused or could not take a message (PermanentError from a transport)
    REJECTED = "rejected"  # the department said no (the default of PermanentError)
    UNMAPPABLE = "unmappable"  # the record does not fit the department's schema
    HTTP = "http"  # an HTTP status no retry can change
    REFUSED = "refused"  # the department's server refused (SFTP permission, …)
    MALFORMED_RESPONSE = "malformed_response"
    HOSTILE_RESPONSE = "hostile_response"  # over its size cap, entity bombs, junk XML
    TAMPERED = "tampered"  # an attachment's bytes differ from what was declared
    ATTACHMENT_TOO_LARGE = "attachment_too_large"
    # the hub's own limits on a message
    MALFORMED = "malformed"  # a bus message that is not valid JSON or fails its schema
    DELIVERY_LIMIT = "delivery_limit"  # delivered more times than the queue allows
    RETRIES_EXHAUSTED = "retries_exhausted"  # the retry budget is spent
    UNROUTABLE = "unroutable"  # no queue for the routing key
    UNSTORABLE = "unstorable"  # a value the store cannot hold
    # department answers (polled or called back) the hub cannot apply
    UNKNOWN_LEG = "unknown_leg"
    UNKNOWN_OUTCOME = "unknown_outcome"
    DETAIL_TOO_LONG = "detail_too_long"
    MALFORMED_RESULT = "malformed_result"
    FORGED = "forged"  # a callback signature that does not verify
    STALE = "stale"  # a callback timestamp outside the window
    # routing a case
    UNKNOWN_ITEM = "unknown_item"
    UNKNOWN_DEPARTMENT = "unknown_department"
    # the bus
    NOT_DECLARED = "not_declared"
    TOPOLOGY_MISMATCH = "topology_mismatch"
    ACCESS_REFUSED = "access_refused"
    BROKER_REFUSED = "broker_refused"
    BAD_BUS_URL = "bad_bus_url"
    # the store
    CONFIG = "config"
    INTEGRITY = "integrity"
    # the blob store and its keys
    NOT_FOUND = "not_found"
    TOO_LARGE = "too_large"
    HASH_MISMATCH = "hash_mismatch"
    INVALID_BLOB_ID = "invalid_blob_id"
    INCOMPLETE = "incomplete"  # a resumable upload sealed before its last byte
    INVALID_KIND = "invalid_kind"
    INVALID_SHA256 = "invalid_sha256"
    UNKNOWN_KEY = "unknown_key"
    CLOSED = "closed"
