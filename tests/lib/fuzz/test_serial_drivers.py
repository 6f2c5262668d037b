"""Every raw serial driver, fed any bytes its device may send: only driver errors.

The Voltronic inverter and the Pylontech, JK and Daly BMSs answer here as
the simulator's recorded (``recorded``), or with those answers changed,
cut, prefixed with noise or replaced by random bytes, or not at all. The
bytes go through the driver's own frame detection as on a real port;
identification, polls and read-backs must end in readings or a
``DeviceError``.
"""

import asyncio
from typing import cast

from hypothesis import strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceSilentError,
    LinkError,
)
from custom_components.energy_orchestrator.lib.drivers.families import (
    FAMILIES,
    Protocol,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.serial_link import (
    FrameEnd,
    SerialLink,
)
from tests.fuzzing import fuzz

from .recorded import families, recordings, session
from .test_modbus_drivers import FAULT_PERCENT, CheckedPolls

FAULTS = st.sampled_from(["changed", "cut", "noise", "random", "silent", "lost"])


class FuzzedSerialLink:
    """A serial link whose answers hypothesis picks, around recorded ones."""

    def __init__(self, data: st.DataObject, answers: dict[bytes, bytes]) -> None:
        """Answer as recorded unless hypothesis picks otherwise."""
        self.data = data
        self.answers = answers
        self.fault_percent = data.draw(FAULT_PERCENT)
        self.endpoint = parse_endpoint("socket://127.0.0.1:1")
        self.timeout = 1.0

    async def transact(
        self, request: bytes, frame_end: FrameEnd, *, answer_within: float | None = None
    ) -> bytes:
        """Return the first whole frame of what hypothesis has the device send."""
        sent = self.answers.get(request, b"")
        if self.data.draw(st.integers(0, 99)) < self.fault_percent:
            sent = self._fault(sent)
        if (end := frame_end(sent)) is None:
            raise DeviceSilentError("no complete answer")
        return sent[:end]

    def _fault(self, sent: bytes) -> bytes:
        """Return the bytes of a faulty answer."""
        fault = self.data.draw(FAULTS)
        if fault == "silent":
            return b""
        if fault == "lost":
            raise LinkError("the port failed")
        if fault == "random":
            return self.data.draw(st.binary(max_size=2 * len(sent) + 16))
        if fault == "noise":
            return self.data.draw(st.binary(min_size=1, max_size=16)) + sent
        if not sent:
            return sent
        if fault == "cut":
            return sent[: self.data.draw(st.integers(0, len(sent) - 1))]
        changes = self.data.draw(
            st.dictionaries(
                st.integers(0, len(sent) - 1),
                st.integers(0, 255),
                min_size=1,
                max_size=4,
            )
        )
        return bytes(changes.get(i, byte) for i, byte in enumerate(sent))

    async def close(self) -> None:
        """Nothing to close."""


@pytest.mark.parametrize("family", families(Protocol.SERIAL))
def test_a_serial_driver_takes_any_bytes(family: str, examples: int) -> None:
    """No bytes its device sends make a driver raise anything but a DeviceError."""
    recording = recordings()[family]
    build = FAMILIES[family].build_serial
    assert build is not None

    def check(data: st.DataObject) -> None:
        link = FuzzedSerialLink(data, recording.answers)
        driver = build(cast(SerialLink, link), recording.unit)
        CheckedPolls(driver)
        asyncio.run(session(driver))

    fuzz(examples, check, st.data())


def test_the_recordings_hold_every_serial_family() -> None:
    """The fuzzers start from real answers: each family answered several requests."""
    for family in families(Protocol.SERIAL):
        assert len(recordings()[family].answers) >= 3, family
