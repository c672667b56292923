"""``hub submit FILE`` and ``hub status CASE_ID``: a terminal's view from the command line.

``submit`` posts a case JSON file to ``--url`` with ``--token`` (or ``HUB_URL`` / ``HUB_TOKEN``)
and prints the tracking code, or every problem the hub found. ``status`` asks the API when
``--url`` is given, else reads the local store (``HUB_DATA_DIR`` / ``HUB_STORE_DSN``, for
operators on the hub host). Exit codes: 0 ok, 1 refused or not found, 2 usage or unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx

from hub.config.settings import get_settings


def register(sub: Any) -> None:
    s = sub.add_parser("submit", help="submit a case JSON file to the hub API")
    s.add_argument("file", type=Path)
    _remote(s)
    s.add_argument("--json", action="store_true", help="print the hub's answer as JSON")
    s.set_defaults(func=run_submit)
    st = sub.add_parser("status", help="show a case's status and each department's state")
    st.add_argument("case_id", metavar="CASE", help="the case id or the receipt's tracking code")
    _remote(st)
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=run_status)


def _remote(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=os.environ.get("HUB_URL"), help="hub API base URL")
    p.add_argument("--token", default=os.environ.get("HUB_TOKEN"), help="terminal token")
    p.add_argument("--timeout", type=float, default=30.0)


def _errors(doc: Any) -> None:
    for e in (doc or {}).get("errors", []) if isinstance(doc, dict) else []:
        print(f"  {e.get('path')}: {e.get('message')}  [{e.get('code')}]")


def _call(method: str, args: argparse.Namespace, path: str, **kw: Any) -> httpx.Response | None:
    if not args.url or not args.token:
        print("error: --url and --token (or HUB_URL and HUB_TOKEN) are required")
        return None
    try:
        return httpx.request(method, args.url.rstrip("/") + path, timeout=args.timeout,
                             headers={"Authorization": f"Bearer {args.token}"}, **kw)
    except httpx.HTTPError as exc:
        print(f"error: hub unreachable: {type(exc).__name__}")
        return None


def run_submit(args: argparse.Namespace) -> int:
    try:
        body = args.file.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}")
        return 2
    r = _call("POST", args, "/v1/cases", content=body)
    if r is None:
        return 2
    doc = _json(r)
    if args.json:
        print(json.dumps({"status_code": r.status_code, "body": doc}, ensure_ascii=False))
    elif r.status_code == 202 and isinstance(doc, dict):
        print(f"accepted: case {doc['case_id']}  tracking code {doc['tracking_code']}  "
              f"({doc.get('status_label', doc['status'])})")
    else:
        print(f"refused ({r.status_code}):")
        _errors(doc)
    return 0 if r.status_code == 202 else 1


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return {"errors": [{"path": "(response)", "code": "response.invalid",
                            "message": r.text[:200]}]}


def _local_view(case_id: uuid.UUID | str) -> dict[str, Any] | None:
    from hub.config.loading import load_config
    from hub.intake.api.views import case_view
    from hub.store import open_default_store
    from hub.web.lookup import case_id_for_code

    settings = get_settings(fresh=True)
    store = open_default_store(settings)
    try:
        if isinstance(case_id, str):
            found = case_id_for_code(store, case_id)
            if found is None:
                return None
            case_id = found
        row = store.get_case(case_id)
        return case_view(row, load_config(settings.config_dir)) if row else None
    finally:
        store.close()


def run_status(args: argparse.Namespace) -> int:
    from hub.web.lookup import normalise_code

    case_id: uuid.UUID | str
    try:
        case_id = uuid.UUID(args.case_id)
    except ValueError:
        code = normalise_code(args.case_id)
        if code is None:
            print("error: CASE must be a case id (UUID) or a tracking code such as 7K2M-9QXD-3HFA")
            return 2
        case_id = code
    if args.url:
        path = (f"/v1/cases/{case_id}" if isinstance(case_id, uuid.UUID)
                else f"/v1/cases/by-code/{case_id}")
        r = _call("GET", args, path)
        if r is None:
            return 2
        view = _json(r) if r.status_code == 200 else None
        if r.status_code not in (200, 404):
            print(f"refused ({r.status_code}):")
            _errors(_json(r))
            return 1
    else:
        view = _local_view(case_id)
    if view is None:
        print(json.dumps({"error": "not_found"}) if args.json else f"case {case_id} not found")
        return 1
    if args.json:
        print(json.dumps(view, ensure_ascii=False))
        return 0
    print(f"case {view['case_id']}  tracking {view['tracking_code']}  item {view['item_name']}")
    print(f"status: {view['status_label']} ({view['status']})")
    for g in view["legs"]:
        missing = ", ".join(m["name"] for m in g["missing_materials"])
        extra = f"  缺: {missing}" if missing else ""
        print(f"  {g['department_title']:<8} {g['state_label']:<10} {g['receipt'] or ''}{extra}")
    return 0
