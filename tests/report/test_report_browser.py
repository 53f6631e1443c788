"""The report in a real browser: headless Chromium renders it, we read the DOM and the pixels.

Skips when /usr/bin/chromium is missing, unless BROWNOUT_REQUIRE_BROWSER=1 (CI sets it, so a
missing browser fails there instead of silently skipping).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.analysis import Summary
from harness.report import render_report

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1280, 2400
FULL_HEIGHT = 5200

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.environ.get("BROWNOUT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{CHROMIUM} is missing and BROWNOUT_REQUIRE_BROWSER=1")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")


def run_chromium(chromium: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_report_renders_in_chromium(
    chromium: Path, demo_run: tuple[Path, Summary], tmp_path: Path
) -> None:
    run_dir, summary = demo_run
    html = render_report(run_dir, summary)[0]
    url = html.resolve().as_uri()

    dom = run_chromium(chromium, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-verdict="FAIL"' in dom.stdout
    assert "1 of 4 SLOs failed" in dom.stdout
    requests = summary.phases["baseline"].requests
    assert requests is not None and 580 < requests <= 592
    assert dom.stdout.count(f'<tr><td>User requests</td><td class="num ">{requests}</td>') == 1
    assert dom.stdout.count('<img src="data:image/svg+xml;base64,') == 3
    # The explaining sections render in the browser too: the per-provider table, the cost per
    # phase and at least three worst-request waterfalls.
    assert '<table id="provider-table">' in dom.stdout
    assert '<table id="cost-table">' in dom.stdout
    assert dom.stdout.count('<figure class="trace"') >= 3

    # The first screen as a reader sees it, then the whole page to check the charts painted.
    shot = screenshot(chromium, tmp_path, url, "report.png", HEIGHT)
    full = screenshot(chromium, tmp_path, url, "report-full.png", FULL_HEIGHT)
    # The verdict banner's red (#b3261e) is on the first screen; the amplification chart's
    # orange line (#ff7f0e) and the queue chart's purple (#9467bd) are somewhere on the page.
    assert colour_pixels(shot, (179, 38, 30)) > 200, "verdict banner not painted"
    assert colour_pixels(full, (255, 127, 14)) > 200, "amplification chart not painted"
    assert colour_pixels(full, (148, 103, 189)) > 200, "queue chart not painted"

    keep = os.environ.get("BROWNOUT_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "report.png")
        shutil.copy(full, Path(keep) / "report-full.png")


def screenshot(chromium: Path, tmp_path: Path, url: str, name: str, height: int) -> Path:
    shot = tmp_path / name
    result = run_chromium(
        chromium,
        tmp_path / f"profile-{name}",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{height}",
        "--hide-scrollbars",
        url,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert png_size(shot) == (WIDTH, height)
    return shot


def colour_pixels(path: Path, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    close = np.abs(pixels - np.asarray(rgb, dtype=np.int16)).max(axis=-1) <= tolerance
    return int(close.sum())
