"""The service room's scanner through SANE: ``scanimage`` pages -> one PDF per material.

Why ``scanimage`` (Debian ``sane-utils``) rather than python-sane: it is SANE's own reference
front end, needs no compiled extension in the virtualenv, and a stuck driver is a child process
we can time out and kill instead of a hung thread. Pages are scanned in batch mode (the
document feeder when more than one page is asked for) at the resolution and mode of the
terminal's scan settings, then joined by Pillow into one PDF (each page JPEG-compressed), so a
material is one file however many pages it has.

``device`` is a SANE device name (``scanimage -L``; in tests SANE's ``test`` backend with
``SANE_CONFIG_DIR`` pointing at a ``dll.conf`` that lists ``test``). Errors are
``ScanFailed`` with a message for the clerk.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

MAX_PAGES = 50
log = logging.getLogger("hub.terminal.scanner")


class ScanFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Scanner:
    device: str
    sane_config_dir: Path | None = None
    timeout_s: float = 180.0
    binary: str = "scanimage"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.sane_config_dir is not None:
            env["SANE_CONFIG_DIR"] = str(self.sane_config_dir)
        return env

    def scan_pdf(self, out: Path, *, pages: int, dpi: int, grey: bool, quality: int) -> int:
        """Scan ``pages`` pages into the PDF ``out``; returns the number of pages scanned."""
        if shutil.which(self.binary) is None:
            raise ScanFailed("本机没有安装扫描程序（sane-utils），请联系县里的运维人员")
        pages = max(1, min(pages, MAX_PAGES))
        with tempfile.TemporaryDirectory(prefix="scan-") as tmp:
            cmd = [self.binary, "-d", self.device, "--format=png", f"--resolution={dpi}",
                   "--mode", "Gray" if grey else "Color", f"--batch={tmp}/page%03d.png",
                   f"--batch-count={pages}"]
            if pages > 1:
                cmd += ["--source", "Automatic Document Feeder"]
            try:
                done = subprocess.run(cmd, env=self._env(), capture_output=True,
                                      timeout=self.timeout_s, check=False)
            except subprocess.TimeoutExpired:
                raise ScanFailed("扫描仪长时间没有响应，请检查扫描仪后重试") from None
            files = sorted(Path(tmp).glob("page*.png"))
            if not files:
                log.warning("scanimage on %s gave no page (exit %s): %s", self.device,
                            done.returncode, done.stderr.decode("utf-8", "replace")[-300:])
                raise ScanFailed("扫描失败，请检查扫描仪是否接好、是否放好材料")
            _join(files, out, dpi=dpi, grey=grey, quality=quality)
            return len(files)


def _join(files: list[Path], out: Path, *, dpi: int, grey: bool, quality: int) -> None:
    images: list[Image.Image] = []
    try:
        for f in files:
            with Image.open(f) as page:
                images.append(page.convert("L" if grey else "RGB"))
        first, rest = images[0], images[1:]
        first.save(out, "PDF", save_all=True, append_images=rest, resolution=float(dpi),
                   quality=quality)
    finally:
        for img in images:
            img.close()
    with open(out, "rb+") as fh:
        os.fsync(fh.fileno())
