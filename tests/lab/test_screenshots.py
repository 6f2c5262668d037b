"""The README's screenshots: one command takes all five in a real browser."""

import hashlib
from pathlib import Path
import struct
import subprocess
import sys

import pytest

from eo_lab.screenshots import CHROMIUM, SCREENSHOTS, VIEWPORT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is absent (scripts/setup installs Debian's chromium)",
    ),
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_one_command_saves_every_screenshot(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eo_lab.screenshots", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout

    digests = set()
    for name in SCREENSHOTS:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        # The IHDR chunk follows the signature: width and height, big-endian.
        width, height = struct.unpack(">II", data[16:24])
        assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"]), name
        # A page of cards and values (74-91 kB), not Home Assistant's
        # loading screen (50 kB), and small enough for the README.
        assert 60_000 < len(data) < 300_000, (name, len(data))
        digests.add(hashlib.sha256(data).hexdigest())
    assert len(digests) == len(SCREENSHOTS), "two screenshots are the same picture"
