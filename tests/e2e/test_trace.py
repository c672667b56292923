"""`hub trace`: a case that was retried and then succeeded, told in time order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.cli.main import main
from simulators.demo import drive
from tests.support.hub import running_hub


def test_trace_shows_a_retried_then_successful_leg(
        hub_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a hub whose social-security system fails the first submissions transiently
    with running_hub(hub_data_dir) as hub:
        assert hub.sims.soap is not None
        hub.sims.soap.faults.transient_next = 4  # more than one delivery's quick retries
        # When a terminal submits cases, one of which goes to social security
        result = drive(hub.rt, hub.url, cases=6, timeout_s=60)
        assert result.settled == result.submitted == 6
        ss_cases = [c["case_id"] for c in result.cases
                    if any(g["department"] == "social_security" for g in c["legs"])]
    # Then `hub trace` of the case that met the failures shows them before the receipt and answer
    traces = {}
    for case_id in ss_cases:
        assert main(["trace", case_id, "--json"]) == 0
        traces[case_id] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    retried = [cid for cid, entries in traces.items()
               if any(e.get("event") == "retrying" for e in entries)]
    assert retried, traces
    case_id = retried[0]
    entries = traces[case_id]
    ss = [e for e in entries if e.get("department") == "social_security"]
    kinds = [e.get("event") for e in ss if e["kind"] == "leg_event"]
    first_retry, submitted = kinds.index("retrying"), kinds.index("submitted")
    assert first_retry < submitted
    assert kinds[-1] in ("approved", "rejected")
    assert entries[0]["kind"] == "case_created"
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    retry = next(e for e in ss if e.get("event") == "retrying")
    assert "attempt" in retry["detail"]
    # And the human-readable form says so too
    assert main(["trace", case_id]) == 0
    text = capsys.readouterr().out
    assert "delivery attempt failed, will retry" in text and "intake:" in text


def test_trace_of_an_unknown_case_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "00000000-0000-4000-8000-000000000000"]) == 1
    assert "no history" in capsys.readouterr().out
    assert main(["trace", "not-a-uuid"]) == 2
