"""The town's approval seal (行政审批服务专用章) image, from configuration.

The seal is ``{seal dir}/{town code}.png``: ``HUB_TOWN_SEAL_DIR`` when set, else ``seals/``
under the hub's data folder. A real installation puts the scanned seal there; tests and the demo
draw one at runtime (``draw_seal``), so no generated image is committed.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

MAX_SEAL_BYTES = 2 * 1024 * 1024


def seal_dir(data_dir: Path) -> Path:
    configured = os.environ.get("HUB_TOWN_SEAL_DIR", "").strip()
    return Path(configured) if configured else Path(data_dir) / "seals"


def read_seal(data_dir: Path, town: str) -> bytes | None:
    path = seal_dir(data_dir) / f"{town}.png"
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SEAL_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_SEAL_BYTES or not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    return data


def draw_seal(town_name: str, font: Path) -> bytes:
    """A red round seal as PNG (transparent background): for tests and the demo."""
    from PIL import Image, ImageDraw, ImageFont

    size = 400
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    red = (200, 20, 20, 230)
    d.ellipse((8, 8, size - 8, size - 8), outline=red, width=14)
    cx, cy, r = size / 2, size / 2, 55
    import math

    points = [(cx + (r if i % 2 == 0 else r * 0.4) * math.sin(i * math.pi / 5),
               cy - (r if i % 2 == 0 else r * 0.4) * math.cos(i * math.pi / 5)) for i in range(10)]
    d.polygon(points, fill=red)
    big = ImageFont.truetype(str(font), 36)
    small = ImageFont.truetype(str(font), 30)
    d.text((cx, 125), f"{town_name}人民政府", font=big, fill=red, anchor="mm")
    d.text((cx, 285), "行政审批专用章", font=small, fill=red, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
