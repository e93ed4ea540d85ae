"""Redraw docs/match-report.png: a report as a phone (390 px) and a desktop (1000 px) show it.

    .venv/bin/serumrnn demo --out out/demo
    .venv/bin/python scripts/report_screenshot.py out/demo/index.html

Headless Chromium (Debian's `chromium`, scripts/setup-system.sh) with mobile emulation over
the DevTools protocol (tests/cdp.py), the two screenshots side by side.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cdp import Browser  # noqa: E402


def shot(b: Browser, url: str, width: int, height: int, mobile: bool, scale: float) -> bytes:
    b.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=scale,
        mobile=mobile,
    )
    b.load(url)
    return base64.b64decode(b.call("Page.captureScreenshot", format="png")["data"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("page", type=Path, help="a report's index.html")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "match-report.png")
    a = p.parse_args()
    from PIL import Image

    url = a.page.resolve().as_uri()
    with tempfile.TemporaryDirectory() as tmp, Browser(Path(tmp) / "profile") as b:
        b.page()
        desk = Image.open(io.BytesIO(shot(b, url, 1000, 1250, False, 1.0)))
        phone = Image.open(io.BytesIO(shot(b, url, 390, 844, True, 1.0)))
    gap = 40
    h = max(desk.height, phone.height)
    out = Image.new("RGB", (desk.width + gap + phone.width, h), "white")
    out.paste(desk, (0, 0))
    out.paste(phone, (desk.width + gap, 0))
    out.save(a.out, optimize=True)
    print(f"wrote {a.out} ({out.width} x {out.height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
