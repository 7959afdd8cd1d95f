"""report.html in headless Chromium (Debian's ``chromium``): it renders, every image loads, and no
request leaves the file — checked in the page source, in the DOM, and in Chromium's network log.

Chromium itself phones home (update checks, account lookups) even with the flags below; those
requests carry no page as initiator. Requests the page makes carry its ``file://`` origin in the
network isolation key, and those are what the log check counts (a control page proves it sees one).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
INSTALL = "apt-get update && apt-get install -y chromium"


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(f"Debian's chromium is not installed; the report's browser test needs it: {INSTALL}")
    return path


def _run(page: Path, tmp_path: Path, name: str, *extra: str) -> str:
    """Run Chromium on ``page`` with a fresh profile; return stdout."""
    profile = tmp_path / f"profile-{name}"
    command = [_chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _page_requests(netlog: Path) -> list[str]:
    """URLs of network requests made on behalf of a file:// page (not Chromium's own background traffic)."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [event["params"]["url"] for event in log["events"] if event["type"] == start
            and ("file://" in event["params"].get("network_isolation_key", "")
                 or event["params"].get("initiator") in ("null", "file://"))]


def _dump(page: Path, tmp_path: Path, name: str) -> tuple[str, list[str]]:
    netlog = tmp_path / f"{name}.netlog.json"
    dom = _run(page, tmp_path, name, f"--log-net-log={netlog}", "--dump-dom")
    return dom, _page_requests(netlog)


def test_the_network_log_check_sees_a_page_request(tmp_path):
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><html><body><p>control</p><img src="http://127.0.0.1:9/x.png"></body></html>')
    dom, requests = _dump(control, tmp_path, "control")
    assert "control" in dom and requests == ["http://127.0.0.1:9/x.png"]


# *_run: synthetic run directories (tests/report/conftest.py); *_run_dir: real `topnet run` ones (tests/conftest.py)
# (the *_run_dir ones are slow where tests/pipeline/test_run.py, also slow, has not built them first)
RUN_DIRS = [pytest.param(name, marks=pytest.mark.slow) for name in ("image_run_dir", "classification_run_dir",
                                                                    "regression_run_dir")]


@pytest.mark.parametrize("fixture", ["image_run", "regression_run", "partial_run", *RUN_DIRS])
def test_report_renders_and_no_request_leaves_the_file(fixture, request, tmp_path):
    page = request.getfixturevalue(fixture) / "report.html"
    dom, requests = _dump(page, tmp_path, fixture)
    assert requests == []
    assert '<section id="headline">' in dom and "The test split was scored once" in dom
    assert re.search(r"<\s*(script|link|iframe|object|embed)\b", dom, flags=re.I) is None  # the <script> class name stayed text
    sources = re.findall(r'<img [^>]*src="([^"]*)"', dom)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert re.findall(r'(?:src|href)="(?!data:image/png;base64,|#)([^"]*)"', dom) == []


@pytest.mark.parametrize("fixture, count", [("image_run", 9), pytest.param("image_run_dir", None, marks=pytest.mark.slow)])
def test_every_image_loads(fixture, count, request, tmp_path):
    """A copy of the page with one inline script (the policy otherwise unchanged) counts decoded images."""
    page = (request.getfixturevalue(fixture) / "report.html").read_text()
    check = ("<script>addEventListener('load', () => { const all = [...document.images];"
             " const ok = all.filter(i => i.complete && i.naturalWidth > 0).length;"
             " document.body.insertAdjacentHTML('beforeend', `<p id=image-check>${ok} of ${all.length}</p>`); });</script>")
    page = page.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';").replace("</body>", check + "</body>")
    copy = tmp_path / "report-check.html"
    copy.write_text(page)
    dom = _run(copy, tmp_path, "images", "--dump-dom", "--virtual-time-budget=5000")
    found = re.search(r'<p id="image-check">(\d+) of (\d+)</p>', dom)
    assert found, dom[-500:]
    loaded, total = int(found[1]), int(found[2])
    assert loaded == total == (count or total) and total >= 8, (loaded, total)  # a real run: every section's figure


def test_screenshot_on_a_laptop_screen(image_run, tmp_path):
    shot = tmp_path / "report.png"
    _run(image_run / "report.html", tmp_path, "shot", "--window-size=1366,768", f"--screenshot={shot}")
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (768, 1366)
    assert np.std(pixels[..., :3]) > 0.05  # not a blank page
    main = pixels[300, 110:1250, :3]  # the centred column is white, the margins grey
    assert np.allclose(main[len(main) // 2], 1.0, atol=0.02)
