"""Scans on the village terminal: SANE's real ``test`` backend, and fewer bytes on a slow link.

Given a terminal whose scanner is SANE's ``test`` device (``SANE_CONFIG_DIR`` with a
``dll.conf`` listing ``test``), when the clerk presses 扫描 for a material with 3 pages, then one
PDF of 3 pages joins that material and the case. Given downscaling to 150 dpi grey JPEG, a
300 dpi colour page is sent at half the size in each direction, the page showing original and
sent size; a recording is kept byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from hub.terminal.scanner import Scanner
from hub.terminal.scans import ScanSettings
from hub.terminal.service import Credential
from tests.support.api import VILLAGE_A, config
from tests.support.services import free_port
from tests.support.terminal import Clerk, LocalTerminal, options

CRED = Credential("terminal-test", VILLAGE_A, "not-a-real-token")


@pytest.fixture
def sane_dir(tmp_path: Path) -> Path:
    if shutil.which("scanimage") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and scanimage is missing (scripts/ensure-services.sh installs "
                        "sane-utils)")
        pytest.skip("scanimage is missing (apt-get install sane-utils)")
    cfg = tmp_path / "sane"
    cfg.mkdir()
    (cfg / "dll.conf").write_text("test\n")
    return cfg


@pytest.fixture
def offline_hub() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: the link is down


def _terminal(tmp_path: Path, hub_url: str, **kw: object) -> Iterator[tuple[LocalTerminal, Clerk]]:
    with LocalTerminal(options(hub_url, tmp_path / "terminal", CRED, **kw)) as term:
        clerk = Clerk(term.url)
        try:
            yield term, clerk
        finally:
            clerk.close()


def test_scan_per_material_makes_one_pdf_with_the_sane_test_backend(
        tmp_path: Path, sane_dir: Path, offline_hub: str) -> None:
    for term, clerk in _terminal(tmp_path, offline_hub, scanner=Scanner("test", sane_dir),
                                 scans=ScanSettings(max_dpi=50, grey=True)):
        page = clerk.http.get("/items/BIRTH/apply").text
        birth = config().catalogue.get("BIRTH")
        assert birth is not None
        assert page.count(">扫描</button>") == len(birth.materials)  # one per material
        r = clerk.http.post("/web/api/scan?kind=birth_certificate&pages=3",
                            headers={"X-CSRF-Token": clerk.csrf})
        assert r.status_code == 201, r.text
        doc = r.json()
        assert doc["pages"] == 3 and "扫描3页" in doc["name"]
        pdf = term.service.store.file_path(doc["ref"]).read_bytes()
        assert pdf.startswith(b"%PDF") and re.search(rb"/Count 3\b", pdf)
        case_id, answer = clerk.submit_sample("BIRTH", VILLAGE_A, seed=3,
                                              scanned={"birth_certificate": doc["ref"]})
        assert answer.status_code == 202, answer.text
        assert "出生医学证明（扫描3页）" in clerk.forward_text(case_id)
        files = term.service.store.case_files(case_id)
        assert [f.media_type for f in files if f.kind == "birth_certificate"] == \
            ["application/pdf"]
        # Without a CSRF token a page elsewhere cannot make the scanner run.
        assert clerk.http.post("/web/api/scan?kind=birth_certificate").status_code == 403


def test_a_missing_scanner_is_said_plainly(tmp_path: Path, sane_dir: Path,
                                           offline_hub: str) -> None:
    for _term, clerk in _terminal(tmp_path, offline_hub,
                                  scanner=Scanner("test:99", sane_dir, timeout_s=20)):
        r = clerk.http.post("/web/api/scan?kind=birth_certificate",
                            headers={"X-CSRF-Token": clerk.csrf})
        assert r.status_code == 503
        assert r.json()["errors"][0]["message"].startswith("扫描失败")


def _page_300dpi() -> bytes:
    img = Image.new("RGB", (1654, 2339))  # a page scanned at 300 dpi (the dpi written below)
    px = img.load()
    assert px is not None
    for y in range(0, img.height, 3):
        for x in range(0, img.width, 3):
            px[x, y] = ((x * 7 + y) % 256, (y * 3) % 256, (x ^ y) % 256)
    out = io.BytesIO()
    img.save(out, "PNG", dpi=(300, 300))
    return out.getvalue()


def test_scans_are_downscaled_and_recordings_never_altered(tmp_path: Path,
                                                          offline_hub: str) -> None:
    settings = ScanSettings(enabled=True, max_dpi=150, jpeg_quality=60, grey=True)
    for term, clerk in _terminal(tmp_path, offline_hub, scans=settings):
        original = _page_300dpi()
        doc = clerk.upload("birth_certificate", original, "image/png")
        assert doc["size_label"].startswith("原 ") and "发送" in doc["size_label"]
        sent = term.service.store.file_path(doc["ref"])
        with Image.open(sent) as img:
            assert img.format == "JPEG" and img.mode == "L"
            assert (img.width, img.height) == (827, 1170)  # 300 -> 150 dpi
        assert sent.stat().st_size < len(original) / 4
        recording = os.urandom(512 * 1024)
        video = clerk.upload("birth_certificate", recording, "video/mp4")
        kept = term.service.store.file_path(video["ref"]).read_bytes()
        assert hashlib.sha256(kept).digest() == hashlib.sha256(recording).digest()
        assert not video["size_label"].startswith("原")
