"""Dispatch 1对1 / 1对N: a town sends a notice (通知) or a task (任务) to one, several or all of
its villages; each village marks it 已读 and 已完成; the town sees who has read and done it.

Messages travel on the village feed, the same event stream as case events (``/web/api/events``,
``/v1/events``): a terminal that was offline gets them when it is back. Every send and every mark
is one store write transaction together with its audit entry (the person named) and feed entries.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass

from sqlalchemy import Engine, insert, select, update

from hub.config.loading import HubConfig
from hub.store.base import Store
from hub.store.engine import guard
from hub.store.tx import WriteTx, us_to_dt
from hub.town import towns
from hub.town.desk import DeskRefused, Staff
from hub.town.schema import town_message_recipients, town_messages

KIND_ZH = {"notice": "通知", "task": "任务"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Recipient:
    village: str
    village_name: str
    read_at: dt.datetime | None
    read_by: str
    done_at: dt.datetime | None
    done_by: str


@dataclass(frozen=True)
class MessageFile:
    blob_id: str
    name: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Message:
    id: str
    town: str
    kind: str
    title: str
    body: str
    due_date: str
    sender_name: str
    created_at: dt.datetime
    recipients: tuple[Recipient, ...]
    files: tuple[MessageFile, ...] = ()

    @property
    def read_count(self) -> int:
        return sum(1 for r in self.recipients if r.read_at or r.done_at)

    @property
    def done_count(self) -> int:
        return sum(1 for r in self.recipients if r.done_at)

    def of(self, village: str) -> Recipient | None:
        return next((r for r in self.recipients if r.village == village), None)


class Dispatch:
    def __init__(self, store: Store, config: HubConfig) -> None:
        write = getattr(store, "_write", None)
        ro = getattr(store, "_ro", None)
        if write is None or not isinstance(ro, Engine):
            raise TypeError("dispatch needs the SQL store")
        self._writer: Callable[[str], AbstractContextManager[WriteTx]] = write
        self._ro: Engine = ro
        self.config = config

    def send(self, staff: Staff, kind: str, title: str, body: str, villages: Sequence[str],
             due_date: str = "", files: Sequence[MessageFile] = ()) -> str:
        own = towns.villages_of(staff.town, self.config.code_tables)
        chosen = sorted({v for v in villages if v in own})
        if kind not in KIND_ZH:
            raise DeskRefused(422, "请选择通知或任务")
        if not title.strip() or not body.strip():
            raise DeskRefused(422, "请填写标题和内容")
        if not chosen:
            raise DeskRefused(422, "请至少选择一个村")
        if due_date and not _DATE.match(due_date):
            raise DeskRefused(422, "完成期限应为日期（如 2026-12-31）")
        message_id = str(uuid.uuid4())
        title, body = title.strip()[:100], body.strip()[:4000]
        with self._writer("town_message_send") as tx:
            tx.conn.execute(insert(town_messages).values(
                id=message_id, town=staff.town, kind=kind, title=title, body=body,
                due_date=due_date or None, sender_id=staff.clerk_id, sender_name=staff.name,
                attachments=json.dumps([asdict(f) for f in files], ensure_ascii=False),
                created_us=tx.now_us))
            tx.conn.execute(insert(town_message_recipients),
                            [{"message_id": message_id, "village": v} for v in chosen])
            tx.audit("town_message_sent", None, {
                "message_id": message_id, "town": staff.town, "kind": kind,
                "villages": chosen, "staff_id": staff.clerk_id, "staff_name": staff.name,
                "files": [{"blob_id": f.blob_id, "sha256": f.sha256} for f in files]})
            for v in chosen:
                tx.feed(v, message_id, {"type": "town_message", "message_id": message_id,
                                        "kind": kind, "kind_label": KIND_ZH[kind],
                                        "title": title, "due_date": due_date})
        return message_id

    def mark(self, village: str, clerk_name: str, clerk_id: str, message_id: str,
             what: str) -> None:
        r = town_message_recipients.c
        col = {"read": ("read_us", "read_by"), "done": ("done_us", "done_by")}.get(what)
        if col is None:
            raise DeskRefused(404, "没有这一步")
        with self._writer("town_message_mark") as tx:
            row = tx.conn.execute(select(town_message_recipients).where(
                r.message_id == message_id[:36], r.village == village)).one_or_none()
            if row is None:
                raise DeskRefused(404, "找不到这条通知")
            values: dict[str, object] = {}
            if getattr(row, col[0]) is None:
                values = {col[0]: tx.now_us, col[1]: clerk_name}
            if what == "done" and row.read_us is None:
                values.update(read_us=tx.now_us, read_by=clerk_name)
            if not values:
                return
            tx.conn.execute(update(town_message_recipients).where(
                r.message_id == row.message_id, r.village == village).values(**values))
            tx.audit(f"town_message_{what}", None, {
                "message_id": row.message_id, "village": village, "clerk_id": clerk_id,
                "clerk_name": clerk_name})
            tx.feed(village, row.message_id, {"type": "town_message_mark",
                                              "message_id": row.message_id, "mark": what})

    def _load(self, ids: Sequence[str]) -> list[Message]:
        if not ids:
            return []
        m, r = town_messages.c, town_message_recipients.c
        tables = self.config.code_tables
        with guard("town_messages"), self._ro.connect() as conn:
            rows = conn.execute(select(town_messages).where(m.id.in_(list(ids)))
                                .order_by(m.created_us.desc())).all()
            recips = conn.execute(select(town_message_recipients).where(
                r.message_id.in_(list(ids))).order_by(r.village)).all()
        by: dict[str, list[Recipient]] = {}
        for x in recips:
            by.setdefault(x.message_id, []).append(Recipient(
                x.village, towns.village_name(x.village, tables), us_to_dt(x.read_us),
                x.read_by or "", us_to_dt(x.done_us), x.done_by or ""))
        return [Message(x.id, x.town, x.kind, x.title, x.body, x.due_date or "",
                        x.sender_name, us_to_dt(x.created_us) or dt.datetime.now(dt.UTC),
                        tuple(by.get(x.id, ())),
                        tuple(MessageFile(**f) for f in json.loads(x.attachments or "[]")))
                for x in rows]

    def of_town(self, town: str, limit: int = 100) -> list[Message]:
        m = town_messages.c
        with guard("town_messages"), self._ro.connect() as conn:
            ids = list(conn.execute(select(m.id).where(m.town == town)
                                    .order_by(m.created_us.desc()).limit(limit)).scalars())
        return self._load(ids)

    def get(self, message_id: str) -> Message | None:
        found = self._load([message_id[:36]])
        return found[0] if found else None

    def of_village(self, village: str, limit: int = 100) -> list[Message]:
        r = town_message_recipients.c
        with guard("town_messages"), self._ro.connect() as conn:
            ids = list(conn.execute(select(r.message_id).where(r.village == village)
                                    .limit(limit)).scalars())
        return self._load(ids)
