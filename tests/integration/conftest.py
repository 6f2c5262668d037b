"""Fixtures of every Home Assistant test: blocking calls in the event loop fail it.

Home Assistant turns its detection of blocking calls on when it starts
(``homeassistant.block_async_io.enable()``); its test harness leaves it off,
and with it on, leaves out file opening and imports, which are what most
often block. Here it is on in every test, for every call it knows, as a
running Home Assistant would have it.
"""

from collections.abc import Iterator
import logging
from pathlib import Path
import sys

from homeassistant import block_async_io
from homeassistant.util import loop as loop_util
import pytest

_ROOT = Path(__file__).parents[2]
# Code that Home Assistant or the simulated site runs in the event loop.
_OURS = (str(_ROOT / "custom_components"), str(_ROOT / "eo_lab"))
_TESTS = str(_ROOT / "tests")


def _blamed_on_the_test() -> bool:
    """Return whether the call being reported was made by test code alone.

    A test patching a module or reading a snapshot in the event loop blocks
    only the test; a call with the integration or the simulator on its
    stack, or from a callback of the loop, is what a user would see.
    """
    frame = sys._getframe(1)
    in_test = False
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_OURS):
            return False
        in_test = in_test or filename.startswith(_TESTS)
        frame = frame.f_back
    return in_test


class _BlockingCallRecorder(logging.Handler):
    """Keep the blocking calls Home Assistant reports, except the tests' own."""

    def __init__(self, reports: list[str]) -> None:
        """Record warnings and worse into ``reports``."""
        super().__init__(logging.WARNING)
        self.reports = reports

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one report; emit runs on the stack of the blocking call."""
        if not _blamed_on_the_test():
            # The message, without the stack Home Assistant appends to it.
            self.reports.append(record.getMessage().split("\nTraceback")[0])


@pytest.fixture
def blocking_call_reports() -> list[str]:
    """Return the blocking calls reported in this test (a test may clear them)."""
    return []


@pytest.fixture(autouse=True)
def fail_on_blocking_calls(
    monkeypatch: pytest.MonkeyPatch, blocking_call_reports: list[str]
) -> Iterator[None]:
    """Turn on Home Assistant's blocking-call detection; fail on any report.

    Sleeping and HTTP calls raise at once, as in Home Assistant; the others
    (opening files, importing) are logged there and fail the test here.
    """
    monkeypatch.setattr(block_async_io, "_IN_TESTS", False)
    # Report every offender in every test, not once per process.
    monkeypatch.setattr(loop_util, "_PREVIOUSLY_REPORTED", set())
    recorder = _BlockingCallRecorder(blocking_call_reports)
    logger = logging.getLogger(loop_util.__name__)
    logger.addHandler(recorder)
    block_async_io.enable()
    try:
        yield
    finally:
        calls = block_async_io._BLOCKED_CALLS.calls
        for call in calls:
            setattr(call.object, call.function, call.original_func)
        calls.clear()
        logger.removeHandler(recorder)
    assert not blocking_call_reports, "\n\n".join(blocking_call_reports)
