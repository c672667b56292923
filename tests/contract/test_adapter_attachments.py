"""Attachments reach every department intact, exactly once, streamed: SFTP (医保), REST (民政)
and SOAP (人社), each over real loopback sockets against its reference simulator.

A leg carries two generated files (one a few MB); the department must end up with bytes whose
SHA-256 matches, filed once even when the hub resends; a stream that differs from its declared
SHA-256 must never lead to a filing; a 50 MB file must not raise the process's peak memory by
anything near its size (SFTP and REST stream; SOAP has a documented size limit instead).
"""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import dataclasses
import hashlib
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.registry import build_adapter
from adapters.transports.sftp import attachment_name, file_name
from hub.config.loading import HubConfig
from hub.domain.adapter import Result, SubmitRequest
from hub.domain.errors import PermanentError
from hub.domain.models import AttachmentRef
from tests.support.sims import (  # noqa: F401 - fixtures
    Running,
    SshKeys,
    hub_config,
    leg_request,
    rest_sim,
    sample_case,
    sftp_sim,
    soap_sim,
    ssh_keys,
)

MIB = 1024 * 1024
CASES = {"medical_insurance": "birth", "civil_affairs": "dibao",
         "social_security": "pension_enroll"}


@dataclasses.dataclass(frozen=True)
class Blob:
    """A generated file: deterministic pseudo-random bytes, produced chunk by chunk."""

    ref: AttachmentRef
    seed: int

    def chunks(self, corrupt: bool = False) -> Iterator[bytes]:
        for i, offset in enumerate(range(0, self.ref.size, MIB)):
            data = random.Random(self.seed * 100_003 + i).randbytes(min(MIB, self.ref.size - offset))
            if corrupt and i == 0:  # same length, one byte flipped: only the hash can tell
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            yield data


def make_blob(seed: int, size: int, kind: str, media_type: str) -> Blob:
    digest = hashlib.sha256()
    draft = Blob(AttachmentRef(id=f"blob{seed}", kind=kind, media_type=media_type, size=size,
                               sha256="0" * 64), seed)
    for chunk in draft.chunks():
        digest.update(chunk)
    return dataclasses.replace(draft, ref=draft.ref.model_copy(update={"sha256":
                                                                        digest.hexdigest()}))


@pytest.fixture(scope="module")
def files() -> list[Blob]:
    return [make_blob(1, 3 * MIB + 12_345, "household_register", "application/pdf"),
            make_blob(2, 200_000, "id_card", "image/jpeg")]


def with_files(config: HubConfig, department: str, leg_id: str, blobs: list[Blob],
               corrupt: str | None = None) -> SubmitRequest:
    """The worker's request for a leg whose case carries ``blobs`` (``corrupt``: a blob id whose
    stream yields other bytes than its declared SHA-256)."""
    by_id = {b.ref.id: b for b in blobs}

    def open_attachment(ref: AttachmentRef) -> Iterator[bytes]:
        return by_id[ref.id].chunks(corrupt=ref.id == corrupt)

    request = leg_request(config, department, sample_case(department, CASES[department]), leg_id)
    return dataclasses.replace(request, attachments=tuple(b.ref for b in blobs),
                               open_attachment=open_attachment)


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def archived(sim: Any, key: str) -> bool:
    """Filed, and the simulator has moved the leg's files and then its batch to ``processed/``
    (it counts the filing first: reading ``processed/`` on ``filed`` alone races the move)."""
    batch = sim.root / "processed" / file_name("medical_insurance", key, "submit")
    return bool(sim.core.filed[key] == 1 and batch.exists())


def sha_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def peak_growth_mib(action: Callable[[], object]) -> float:
    """How far this process's peak RSS rises above its current RSS while ``action`` runs."""
    def status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    except OSError:
        pytest.skip("cannot reset the peak RSS here")
    before = status("VmRSS")
    action()
    return (status("VmHWM") - before) / 1024


# -- SFTP (医保) -------------------------------------------------------------------------------
def test_sftp_files_land_before_the_batch_and_are_listed(sftp_sim: Running, hub_config: HubConfig,
                                                         files: list[Blob]) -> None:
    sim, key = sftp_sim.sim, "leg-yb-att"
    # given a leg with two files, when the hub submits it
    sftp_sim.adapter.submit(with_files(hub_config, "medical_insurance", key, files))
    # then the department files it once, with both files next to the batch, hashes matching
    wait_for(lambda: archived(sim, key))
    done = sim.root / "processed"
    names = [attachment_name("medical_insurance", key, "submit", n, b.ref.sha256)
             for n, b in enumerate(files, start=1)]
    assert [sha_of(done / name) for name in names] == [b.ref.sha256 for b in files]
    batch = (done / file_name("medical_insurance", key, "submit")).read_bytes().decode("gb18030")
    lines = batch.split("\r\n")
    assert lines[0].startswith(f"H|1.1|{key}|submit|") and lines[0].endswith("|2")
    assert lines[3] == "|".join(["A", "1", names[0], "household_register", "application/pdf",
                                 str(files[0].ref.size), files[0].ref.sha256])
    assert sim.attachment_bytes[key] == sum(b.ref.size for b in files)
    assert sim.core.refusals == {}  # the batch never arrived ahead of its files
    assert list((sim.root / "inbox").iterdir()) == []  # no .part left behind

    # when the hub resends the same leg (its reply was lost), then files are replaced, not added
    sftp_sim.adapter.submit(with_files(hub_config, "medical_insurance", key, files))
    wait_for(lambda: sim.core.received[key] == 2)
    assert sim.core.filed[key] == 1
    assert sorted(p.name for p in done.iterdir()) == sorted(
        [*names, file_name("medical_insurance", key, "submit")])


def test_sftp_batch_waits_for_every_file(sftp_sim: Running, hub_config: HubConfig,
                                         files: list[Blob]) -> None:
    sim, key = sftp_sim.sim, "leg-yb-half"
    second = attachment_name("medical_insurance", key, "submit", 2, files[1].ref.sha256)
    # given the department's server refuses the upload of the second file
    sim.faults.reject_keys.add(second.removesuffix(".bin"))
    with pytest.raises(PermanentError):
        sftp_sim.adapter.submit(with_files(hub_config, "medical_insurance", key, files))
    # then the department sees no batch (only the first file), so nothing is filed or refused
    time.sleep(0.2)
    assert not list((sim.root / "inbox").glob("*.txt")) and sim.received == {}
    # when the server takes files again and the hub resends, then it is filed once, complete
    sim.faults.reject_keys.clear()
    sftp_sim.adapter.submit(with_files(hub_config, "medical_insurance", key, files))
    wait_for(lambda: archived(sim, key))
    assert sim.attachment_bytes[key] == sum(b.ref.size for b in files)


def test_sftp_tampered_stream_sends_no_batch(sftp_sim: Running, hub_config: HubConfig,
                                             files: list[Blob]) -> None:
    sim = sftp_sim.sim
    # given the first file's stream differs from its declared SHA-256
    request = with_files(hub_config, "medical_insurance", "leg-yb-bad", files,
                         corrupt=files[0].ref.id)
    # when the hub submits, then it is refused for good and nothing is left for the department
    with pytest.raises(PermanentError) as err:
        sftp_sim.adapter.submit(request)
    assert err.value.reason == "tampered"
    time.sleep(0.2)  # the processor would have filed a batch by now
    assert list((sim.root / "inbox").iterdir()) == []
    assert sim.received == {} and sim.core.filed == {}


def test_sftp_department_refuses_a_batch_whose_file_differs(sftp_sim: Running,
                                                            files: list[Blob]) -> None:
    # given a batch (written by some other sender) listing a file whose bytes are not the listed
    sim, ref = sftp_sim.sim, files[1].ref
    (sim.root / "inbox" / "scan.bin").write_bytes(b"not the scan")
    batch = ("H|1.1|leg-yb-odd|submit|case-1|MED_PAY|1|1\r\nC|XM\r\nD|某人\r\n"
             f"A|1|scan.bin|id_card|image/jpeg|{ref.size}|{ref.sha256}\r\n")
    (sim.root / "inbox" / "YB_odd.txt").write_bytes(batch.encode("gb18030"))
    # when the department processes it, then it files nothing and answers "rejected" with why
    wait_for(lambda: bool(sim.core.refusals))
    results: list[Result] = []

    def polled() -> bool:
        results.extend(sftp_sim.adapter.poll_results())
        return bool(results)

    wait_for(polled)
    assert [(r.leg_id, r.outcome) for r in results] == [("leg-yb-odd", "rejected")]
    assert "附件" in (results[0].detail or "")
    assert sim.core.filed == {}
    assert (sim.root / "rejected" / "scan.bin").exists()


def test_sftp_delivers_from_the_real_blob_store_and_stops_on_a_tampered_blob(
        sftp_sim: Running, hub_config: HubConfig, files: list[Blob]) -> None:
    from hub.config.settings import get_settings
    from hub.evidence.blobs import open_blob_store

    blobs = open_blob_store(get_settings())
    refs = []
    for b in files:  # given the scans as the API stores them: encrypted at rest
        with blobs.writer(b.ref.kind, b.ref.size) as writer:
            for chunk in b.chunks():
                writer.write(chunk)
            info = writer.commit(b.ref.sha256)
        refs.append(b.ref.model_copy(update={"id": info.id}))
    request = dataclasses.replace(
        leg_request(hub_config, "medical_insurance", sample_case("medical_insurance", "birth"),
                    "leg-yb-store"),
        attachments=tuple(refs), open_attachment=lambda ref: blobs.open(ref.id, ref.sha256))
    # when the worker-shaped request is submitted, then the department files it with both files
    sftp_sim.adapter.submit(request)
    wait_for(lambda: archived(sftp_sim.sim, "leg-yb-store"))
    # given one stored blob is then altered on disk, when the leg is delivered again
    path = blobs.path(refs[0].id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    again = dataclasses.replace(request, leg_id="leg-yb-store2")
    with pytest.raises(PermanentError) as err:
        sftp_sim.adapter.submit(again)
    # then it is refused as tampered and the department never sees the second batch
    assert err.value.reason == "tampered"
    time.sleep(0.2)
    assert "leg-yb-store2" not in sftp_sim.sim.received
    assert list((sftp_sim.sim.root / "inbox").iterdir()) == []


def test_sftp_50mb_file_streams_in_flat_memory(sftp_sim: Running, hub_config: HubConfig) -> None:
    big = make_blob(50, 50 * MIB, "video", "video/mp4")
    request = with_files(hub_config, "medical_insurance", "leg-yb-big", [big])
    growth = peak_growth_mib(lambda: sftp_sim.adapter.submit(request))
    wait_for(lambda: archived(sftp_sim.sim, "leg-yb-big"), timeout_s=30)
    assert sftp_sim.sim.attachment_bytes["leg-yb-big"] == 50 * MIB
    assert growth < 40, f"peak RSS grew {growth:.1f} MiB for a 50 MiB file"


# -- REST (民政) -------------------------------------------------------------------------------
def test_rest_files_are_put_before_the_application(rest_sim: Running, hub_config: HubConfig,
                                                   files: list[Blob]) -> None:
    core, key = rest_sim.sim.core, "leg-mz-att"
    receipt = rest_sim.adapter.submit(with_files(hub_config, "civil_affairs", key, files))
    assert not receipt.duplicate
    expected = {n: (b.ref.sha256, b.ref.size) for n, b in enumerate(files, start=1)}
    assert core.attachments[key] == expected and core.filed[key] == 1
    # a resend replaces the files and is recognised as the same application
    again = rest_sim.adapter.submit(with_files(hub_config, "civil_affairs", key, files))
    assert again.duplicate and again.department_ref == receipt.department_ref
    assert core.attachments[key] == expected and core.filed[key] == 1
    assert core.attachment_bytes[key] == 2 * sum(b.ref.size for b in files)


def test_rest_tampered_stream_is_never_filed(rest_sim: Running, hub_config: HubConfig,
                                             files: list[Blob]) -> None:
    core = rest_sim.sim.core
    request = with_files(hub_config, "civil_affairs", "leg-mz-bad", files, corrupt=files[0].ref.id)
    with pytest.raises(PermanentError) as err:
        rest_sim.adapter.submit(request)
    assert err.value.reason == "tampered"
    assert "leg-mz-bad" not in core.attachments and core.filed == {} and core.received == {}
    # and the connection cut mid-file leaves both ends usable: the next leg goes through
    rest_sim.adapter.submit(with_files(hub_config, "civil_affairs", "leg-mz-next", files))
    assert core.filed == {"leg-mz-next": 1}


def test_rest_department_files_only_with_every_listed_file(rest_sim: Running,
                                                           files: list[Blob]) -> None:
    ref = files[1].ref
    with httpx.Client(base_url=rest_sim.sim.url, headers={"Authorization": "Bearer t0ken"}) as http:
        # a file whose bytes do not match the declared SHA-256 is refused
        bad = http.put("/applications/leg-mz-odd/attachments/1", content=b"x" * 10,
                       headers={"X-Content-SHA256": ref.sha256, "Idempotency-Key": "leg-mz-odd"})
        assert (bad.status_code, bad.json()["code"]) == (422, "DIGEST_MISMATCH")
        # and an application listing a file that never arrived is not filed
        post = http.post("/applications", headers={"Idempotency-Key": "leg-mz-odd"}, json={
            "request_id": "leg-mz-odd", "kind": "submit", "record": {"XM": "某人"},
            "attachments": [{"index": 1, "sha256": ref.sha256, "size": ref.size}]})
        assert (post.status_code, post.json()["code"]) == (422, "ATTACHMENTS_INCOMPLETE")
    assert rest_sim.sim.core.filed == {}


def test_rest_50mb_file_streams_in_flat_memory(rest_sim: Running, hub_config: HubConfig) -> None:
    big = make_blob(51, 50 * MIB, "video", "video/mp4")
    request = with_files(hub_config, "civil_affairs", "leg-mz-big", [big])
    growth = peak_growth_mib(lambda: rest_sim.adapter.submit(request))
    assert rest_sim.sim.core.attachments["leg-mz-big"] == {1: (big.ref.sha256, 50 * MIB)}
    assert growth < 40, f"peak RSS grew {growth:.1f} MiB for a 50 MiB file"


# -- SOAP (人社) -------------------------------------------------------------------------------
def test_soap_files_are_uploaded_before_the_application(soap_sim: Running, hub_config: HubConfig,
                                                        files: list[Blob]) -> None:
    core, key = soap_sim.sim.core, "leg-rs-att"
    receipt = soap_sim.adapter.submit(with_files(hub_config, "social_security", key, files))
    expected = {n: (b.ref.sha256, b.ref.size) for n, b in enumerate(files, start=1)}
    assert core.attachments[key] == expected and core.filed[key] == 1
    again = soap_sim.adapter.submit(with_files(hub_config, "social_security", key, files))
    assert again.duplicate and again.department_ref == receipt.department_ref
    assert core.filed[key] == 1 and core.attachment_bytes[key] == 2 * sum(b.ref.size
                                                                           for b in files)


def test_soap_tampered_stream_is_never_sent(soap_sim: Running, hub_config: HubConfig,
                                            files: list[Blob]) -> None:
    core = soap_sim.sim.core
    request = with_files(hub_config, "social_security", "leg-rs-bad", files,
                         corrupt=files[1].ref.id)
    with pytest.raises(PermanentError) as err:
        soap_sim.adapter.submit(request)
    assert err.value.reason == "tampered"
    assert core.filed == {} and core.received == {}


def test_soap_file_above_the_limit_is_refused_before_sending(hub_config: HubConfig,
                                                             files: list[Blob]) -> None:
    from simulators.social_security import SoapSim

    with SoapSim() as sim:
        adapter = build_adapter(hub_config.departments["social_security"],
                                overrides={"endpoint": sim.url, "max_attachment_bytes": MIB})
        try:
            with pytest.raises(PermanentError, match="limit") as err:
                adapter.submit(with_files(hub_config, "social_security", "leg-rs-big", files))
        finally:
            adapter.close()
        assert err.value.reason == "attachment_too_large"
        assert sim.core.attachment_bytes == {} and sim.core.received == {}
