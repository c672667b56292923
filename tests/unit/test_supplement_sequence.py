"""Each supplement of a leg is numbered in the store: its idempotency key at the department is
the leg id + that number (issue 18, item 12). Run against SQLite and PostgreSQL."""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

from hub.domain.adapter import idempotency_key
from hub.domain.models import LegEventKind, LegMessage
from hub.intake.split_legs import supplement
from hub.store import Store
from tests.support.api import config, event, submit
from tests.unit.test_store import dsn, store, store_kind  # noqa: F401 - fixtures

K = LegEventKind
MI = "medical_insurance"


def _sent(store: Store) -> list[LegMessage]:
    rows = store.pending_outbox(50)
    store.mark_outbox_sent([r.id for r in rows])
    return [LegMessage.model_validate_json(r.body) for r in rows if r.exchange == "dispatch"]


def test_every_message_of_a_leg_has_its_own_key(store: Store) -> None:
    case, _ = submit(store)
    [first] = [m for m in _sent(store) if m.department == MI]
    keys = [idempotency_key(first.leg_id, first.sequence)]
    for _ in range(2):  # the department asks for materials twice; the clerk answers each time
        store.apply_leg_event(event(case, MI, K.SUBMITTED if len(keys) == 1 else K.ACCEPTED))
        store.apply_leg_event(event(case, MI, K.NEEDS_MATERIALS, missing=["x"]))
        assert store.add_supplement(case.case_id, MI,
                                    supplement(case, MI, [], {}, config())).applied
        [more] = _sent(store)
        keys.append(idempotency_key(more.leg_id, more.sequence))
    assert [k.rsplit(":", 1)[1] for k in keys] == ["0", "1", "2"]
    assert len(set(keys)) == 3
