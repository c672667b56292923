"""The terminal CLI: ``hub terminals add|list|revoke``, ``hub submit``, ``hub status``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from hub.cli import client, terminals
from tests.support.api import VILLAGE_A, Api, live_server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    # Only this suite's commands: other sub-command modules are being written concurrently and
    # an unrelated import error must not fail these tests (``hub --help`` tests cover the rest).
    parser = argparse.ArgumentParser(prog="hub")
    sub = parser.add_subparsers(dest="command")
    terminals.register(sub)
    client.register(sub)
    args = parser.parse_args(list(argv))
    code = int(args.func(args))
    return code, capsys.readouterr().out


def test_terminal_lifecycle_submit_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    api = Api(tmp_path, None)
    monkeypatch.setenv("HUB_DATA_DIR", str(api.settings.data_dir))
    try:
        code, out = run(capsys, "terminals", "add", "--village", VILLAGE_A, "--name", "一号机",
                        "--json")
        assert code == 0
        issued = json.loads(out)
        assert len(issued["token"]) >= 40
        code, out = run(capsys, "terminals", "list")
        assert code == 0 and issued["id"] in out and issued["token"] not in out
        assert run(capsys, "terminals", "add", "--village", "123")[0] == 2

        case_file = tmp_path / "case.json"
        body = api.new_case(issued["token"])
        case_file.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        with live_server(api.app) as srv:
            code, out = run(capsys, "submit", str(case_file), "--url", srv.url,
                            "--token", issued["token"])
            assert code == 0 and "tracking code" in out
            code, out = run(capsys, "status", body["case_id"], "--url", srv.url,
                            "--token", issued["token"], "--json")
            assert code == 0 and json.loads(out)["status"] == "received"
            bad = dict(body, item_code="NOPE")
            case_file.write_text(json.dumps(bad), encoding="utf-8")
            code, out = run(capsys, "submit", str(case_file), "--url", srv.url,
                            "--token", issued["token"])
            assert code == 1 and "item.unknown" in out
            code, out = run(capsys, "terminals", "revoke", issued["id"])
            assert code == 0
            code, out = run(capsys, "status", body["case_id"], "--url", srv.url,
                            "--token", issued["token"])
            assert code == 1 and "auth.invalid" in out
        code, out = run(capsys, "status", body["case_id"])  # local store
        assert code == 0 and "民政" in out and body["case_id"] in out
        assert run(capsys, "terminals", "revoke", issued["id"])[0] == 1
    finally:
        api.close()
