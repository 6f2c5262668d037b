"""The README's screenshots: one command takes them all in a real browser.

One run serves every test: Home Assistant with the simulated site, the
meter, the serial devices and the controllers added through their forms in
Debian's Chromium (the other devices through the same flow's HTTP API),
every device page read, and the integration's dashboard with its plan card.
"""

import hashlib
import json
from pathlib import Path
import struct
import subprocess
import sys
from typing import Any

import pytest

from eo_lab.screenshots import (
    CHROMIUM,
    PLAN_CARD,
    PLAN_SERIES,
    SCREENSHOTS,
    SETPOINT_REFUSAL,
    VIEWPORT,
    device_page_problems,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is absent (scripts/setup installs Debian's chromium)",
    ),
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Take the screenshots once; return their folder and what the browser saw."""
    out = tmp_path_factory.mktemp("screenshots")
    report = out / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eo_lab.screenshots",
            "--out",
            str(out),
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seen = json.loads(report.read_text()) if report.exists() else {}
    assert result.returncode == 0, result.stderr + result.stdout + json.dumps(seen)
    return out, seen


def _size(data: bytes) -> tuple[int, int]:
    """Return a PNG's width and height (the IHDR chunk follows the signature)."""
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_one_command_saves_every_screenshot(run: tuple[Path, dict[str, Any]]) -> None:
    out, _ = run
    digests = set()
    for name in SCREENSHOTS:
        data = (out / name).read_bytes()
        assert _size(data) == (VIEWPORT["width"], VIEWPORT["height"]), name
        # A page of cards and values (74-91 kB), not Home Assistant's
        # loading screen (50 kB), and small enough for the README.
        assert 60_000 < len(data) < 300_000, (name, len(data))
        digests.add(hashlib.sha256(data).hexdigest())
    assert len(digests) == len(SCREENSHOTS), "two screenshots are the same picture"


def test_the_dashboard_s_card_draws_the_plan_without_an_error(
    run: tuple[Path, dict[str, Any]],
) -> None:
    """The card's SVG holds the planned grid and SOC; the console stays clean."""
    out, seen = run
    assert set(PLAN_SERIES) <= set(seen["series"])
    # The measured past beside the plan, from the recorder.
    assert {"grid_measured", "soc_measured"} <= set(seen["series"])
    assert seen["notices"] == []
    assert seen["console_errors"] == []
    # The Energy dashboard's cards have their sources: grid, solar, battery.
    assert seen["energy_sources"] == 3
    width, height = _size((out / PLAN_CARD).read_bytes())
    assert width > 600
    assert 300 < height < VIEWPORT["height"]


def test_every_device_page_shows_its_entities_by_name(
    run: tuple[Path, dict[str, Any]],
) -> None:
    """Read in Chromium: no nameless entity, no name twice, the Alfen's phases named."""
    _, seen = run
    pages = seen["device_pages"]
    assert device_page_problems(pages) == []
    # Devices added over the network, over ser2net, and the controllers.
    assert {
        "Eastron SDM630",
        "Alfen Eve (NG910)",
        "Daly Smart BMS 16S",
        "House battery",
        "Peak shaving",
        "Wallbox",
        "Flexible loads",
        "Water heater",
        "Pool pump",
    } <= set(pages)
    assert "Phases to charge on" in pages["Alfen Eve (NG910)"]
    # Every battery offers the Energy dashboard its two counters.
    assert {"Battery charge energy", "Battery discharge energy"} <= set(
        pages["Daly Smart BMS 16S"]
    )
    # A sub-device carries its parent's name, so a second inverter cannot collide.
    assert any(name.startswith("Pylontech") and "Pack 1" in name for name in pages)


def test_the_forms_work_in_the_browser_and_refuse_what_cannot_work(
    run: tuple[Path, dict[str, Any]],
) -> None:
    """The meter, the serial devices and the controllers were added in Chromium.

    Peak shaving's form showed its refusal of a number that only caps the
    charge power before it took the GX's signed setpoint.
    """
    _, seen = run
    assert seen["refusals"] == [SETPOINT_REFUSAL]
