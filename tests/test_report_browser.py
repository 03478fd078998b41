"""End to end: report.html as a real browser shows it (headless Chromium).

The report is built from a recorded run, opened in headless Chromium, and checked for
what a reader must see without scrolling or clicking: the verdict at the top, the area
matrix, and a failure's diagnostics expanded. Chromium measures the page through a
probe script added to a copy of the report (the report itself has no script), and the
screenshots are kept under ``reports/browser/`` (not committed) for a person to look at.

Needs the ``chromium`` binary (Debian package ``chromium``); skips, saying so, without,
except where ``SNAPCONF_BROWSER_TESTS=required`` (``.ci/run`` sets it): there it fails.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from conformance.report import REPORT_FILE, verdict, write_report

DATA = Path(__file__).parent / "data" / "report"
SHOTS = Path(__file__).resolve().parents[1] / "reports" / "browser"
BROWSERS = ("chromium", "chromium-browser")
WIDTH, HEIGHT = 1280, 1000
TIMEOUT = 120

PROBE = """
<script>
(function () {
  function seen(el) {
    if (!el) return null;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return {
      text: el.innerText.trim(),
      top: box.top + window.scrollY,
      height: box.height,
      width: box.width,
      shown: box.width > 0 && box.height > 0 && style.visibility !== "hidden"
        && style.display !== "none" && parseFloat(style.opacity) > 0,
      color: style.color,
      background: style.backgroundColor,
    };
  }
  const cells = (tr) => Array.from(tr.children).map((c) => c.innerText.trim());
  const failure = document.querySelector("details.failure");
  const out = {
    viewport: window.innerHeight,
    verdict: seen(document.querySelector("header h1")),
    statement: seen(document.querySelector("header p.for")),
    areas: seen(document.querySelector("#areas table")),
    areaRows: Array.from(document.querySelectorAll("#areas tbody tr")).map(cells),
    failure: seen(failure),
    failureOpen: failure ? failure.open : null,
    message: seen(failure && failure.querySelector("pre.message")),
    events: seen(failure && failure.querySelector("table.events")),
    resources: performance.getEntriesByType("resource").map((e) => e.name),
  };
  const probe = document.createElement("pre");
  probe.id = "snapconf-probe";
  probe.textContent = JSON.stringify(out);
  document.body.appendChild(probe);
})();
</script>
"""


def browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


#: In CI (``.ci/run``) the browser tests must run: without Chromium they fail, not skip.
REQUIRED = os.environ.get("SNAPCONF_BROWSER_TESTS") == "required"

pytestmark = pytest.mark.skipif(
    browser() is None and not REQUIRED,
    reason="headless Chromium is not installed (Debian: apt-get install -y chromium)",
)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = browser()
    assert binary is not None, "Chromium is not installed, and SNAPCONF_BROWSER_TESTS=required"
    argv = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_pixels(path: Path, rows: int) -> list[tuple[int, int, int]]:
    """The RGB pixels of the first ``rows`` rows of an 8-bit RGB(A) PNG (no interlace)."""
    data = path.read_bytes()
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, _, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, colour, interlace) in ((8, 2, 0), (8, 6, 0)), "unsupported PNG"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(rows):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                near = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + near) & 0xFF
        pixels += [tuple(line[x : x + 3]) for x in range(0, stride, bpp)]  # type: ignore[misc]
        previous = line
    return pixels


def share_of(pixels: list[tuple[int, int, int]], colour: tuple[int, int, int]) -> float:
    """The share of pixels within a small distance of ``colour``."""
    near = sum(1 for p in pixels if max(abs(a - b) for a, b in zip(p, colour, strict=True)) < 12)
    return near / len(pixels)


def measure(report: Path, tmp_path: Path) -> dict[str, Any]:
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(
        report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
        encoding="utf-8",
    )
    done = chromium(
        tmp_path / "profile-dom", "--virtual-time-budget=5000", "--dump-dom", probe_page.as_uri()
    )
    found = re.search(r'<pre id="snapconf-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium printed no probe (exit {done.returncode}): {done.stderr[-2000:]}"
    measured = json.loads(html.unescape(found.group(1)))
    assert isinstance(measured, dict)
    return measured


def screenshot(page: Path, out: Path, tmp_path: Path) -> None:
    out.unlink(missing_ok=True)
    done = chromium(tmp_path / f"profile-{out.stem}", f"--screenshot={out}", page.as_uri())
    assert out.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    assert png_size(out) == (WIDTH, HEIGHT)


@pytest.fixture(scope="module", params=["failures", "all-passed"])
def built(request: pytest.FixtureRequest) -> tuple[str, Path]:
    name = request.param
    folder = SHOTS / name
    folder.mkdir(parents=True, exist_ok=True)
    results = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    report = write_report(results, folder)
    assert report == folder / REPORT_FILE
    return name, report


def test_verdict_matrix_and_failure_are_visible(built: tuple[str, Path], tmp_path: Path) -> None:
    name, report = built
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    judged = verdict(data)
    seen = measure(report, tmp_path)

    # Nothing was fetched: the report is one self-contained file.
    assert seen["resources"] == []

    # The verdict is the first thing on the page, in the first screenful, in its colour.
    banner = seen["verdict"]
    assert banner["shown"]
    assert banner["text"].endswith(judged.label)
    assert banner["top"] < 150
    assert banner["top"] + banner["height"] < seen["viewport"]
    red, green = "rgb(207, 34, 46)", "rgb(26, 127, 55)"
    assert banner["background"] == (green if judged.conformant else red)
    assert seen["statement"]["shown"]
    assert seen["statement"]["text"].startswith("for the declared capabilities of ")

    # The area matrix: one row an area, with the counts of the recorded run.
    assert seen["areas"]["shown"]
    counts: dict[str, list[int]] = {}
    for test in data["tests"]:
        row = counts.setdefault(test["area"], [0, 0, 0, 0])
        row[("passed", "failed", "error", "skipped").index(test["outcome"])] += 1
    shown = {row[0]: [int(c) for c in row[1:5]] for row in seen["areaRows"]}
    assert shown == counts

    # The first failure (the regression, in failures.json) is open, its diagnostics shown.
    if judged.conformant:
        assert seen["failure"] is None
        return
    assert seen["failureOpen"] is True
    assert seen["failure"]["shown"]
    regressed = data["baselineRegressions"][0]
    first = next(t for t in data["tests"] if t["nodeid"] == regressed)
    assert seen["failure"]["text"].startswith("REGRESSION")
    assert regressed.split("::")[1] in seen["failure"]["text"]
    assert seen["message"]["shown"]
    assert seen["message"]["text"] == first["diagnostics"]["message"].strip()
    assert seen["events"]["shown"]
    for event in first["diagnostics"]["events"]:
        assert event["reason"] in seen["events"]["text"]


#: The verdict's colours (the report's --pass and --fail).
GREEN, RED = (26, 127, 55), (207, 34, 46)


def test_screenshots(built: tuple[str, Path], tmp_path: Path) -> None:
    """The top of the report, and (for a failing run) its failures, as PNGs to look at."""
    name, report = built
    judged = verdict(report.parent / "results.json")
    top = SHOTS / name / "report.png"
    screenshot(report, top, tmp_path)
    # The verdict badge is painted in the first rows, in its colour, and not the other one.
    banner = png_pixels(top, 120)
    ours, theirs = (GREEN, RED) if judged.conformant else (RED, GREEN)
    assert share_of(banner, ours) > 0.02
    assert share_of(banner, theirs) < 0.001
    if judged.conformant:
        return
    # The failures section alone (a copy of the report with the rest hidden).
    only = tmp_path / "failures.html"
    hide = "header, nav, footer, main > section:not(#failures) { display: none !important; }"
    only.write_text(
        report.read_text(encoding="utf-8").replace("</head>", f"<style>{hide}</style></head>"),
        encoding="utf-8",
    )
    shot = SHOTS / name / "failures.png"
    screenshot(only, shot, tmp_path)
    # The failure's message box (light red) is on screen.
    assert share_of(png_pixels(shot, 400), (255, 235, 233)) > 0.01
