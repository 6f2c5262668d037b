"""A battery speaking the Pylontech CAN protocol, listened to on its CAN bus.

See ``pylontech_can_protocol`` for the frames. The BMS broadcasts; this
driver listens (``CanLink``) and keeps the latest frame of each kind, and a
poll reports what those frames say. A frame older than ``SILENCE_TIMEOUT``
is no longer the battery's state: its values are unavailable, and a bus on
which no frame of the battery is fresh is a silent device. Each reading is
stamped with the time its frame arrived.

Readings: voltage, current (> 0 charging), power (voltage times current)
and temperature from 0x356; SOC and SOH from 0x355; the charge and
discharge voltage and current limits from 0x351; the worst of the alarm
flags (0x359) and what the BMS allows and requests (0x35C) as enumerated
values; every flag by name in diagnostics.

Identity: the name in 0x35E; the protocol carries no serial number, so the
battery is told apart by the bus it is on.

``keepalive``: send the inverter's 0x305 frame every second, for a battery
that is alone on the bus with this integration and waits for an inverter
before it talks; on a bus with an inverter, leave it off.
"""

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
import time
from typing import ClassVar

import can

from ..base import Driver, Poll
from ..cadence import Cadence
from ..errors import BadResponseError, DeviceSilentError, WrongDeviceError
from ..transport.can_link import CanLink
from ..values import Identity, make_reading
from .pylontech_can_protocol import (
    BMS_FRAMES,
    FRAME_PERIOD,
    KEEPALIVE_DATA,
    FrameId,
    parse_alarms,
    parse_limits,
    parse_measurements,
    parse_name,
    parse_requests,
    parse_soc,
)

# A bus on which the battery sent nothing for this long is silent (s).
SILENCE_TIMEOUT = 10.0
# How long a probe listens for the battery's frames (s): three of its periods.
PROBE_TIME = 3.0
# What a battery must send to be one: without these, another device talks.
_CORE_FRAMES = frozenset({FrameId.SOC, FrameId.MEASUREMENTS})

# The keys each frame gives.
FRAME_KEYS: Mapping[FrameId, tuple[str, ...]] = {
    FrameId.LIMITS: (
        "battery_charge_voltage_limit",
        "battery_charge_current_limit",
        "battery_discharge_current_limit",
        "battery_discharge_voltage_limit",
    ),
    FrameId.SOC: ("battery_soc", "battery_soh"),
    FrameId.MEASUREMENTS: (
        "battery_voltage",
        "battery_current",
        "battery_power",
        "battery_temperature",
    ),
    FrameId.ALARMS: ("battery_alarm",),
    FrameId.REQUESTS: ("battery_permission", "battery_charge_request"),
}


@dataclass(frozen=True, slots=True)
class Frame:
    """The latest frame of one kind: its bytes, and when it arrived."""

    data: bytes
    wall_time: float
    monotonic: float


def frame_values(frame_id: FrameId, data: bytes) -> dict[str, float | str | None]:
    """Return the values of one frame under canonical keys.

    Raises BadResponseError for a frame too short for its layout.
    """
    if frame_id is FrameId.LIMITS:
        limits = parse_limits(data)
        return {
            "battery_charge_voltage_limit": limits.charge_voltage,
            "battery_charge_current_limit": limits.charge_current,
            "battery_discharge_current_limit": limits.discharge_current,
            "battery_discharge_voltage_limit": limits.discharge_voltage,
        }
    if frame_id is FrameId.SOC:
        state = parse_soc(data)
        return {"battery_soc": state.soc, "battery_soh": state.soh}
    if frame_id is FrameId.MEASUREMENTS:
        measured = parse_measurements(data)
        return {
            "battery_voltage": measured.voltage,
            "battery_current": measured.current,
            "battery_power": measured.voltage * measured.current,
            "battery_temperature": measured.temperature,
        }
    if frame_id is FrameId.ALARMS:
        return {"battery_alarm": parse_alarms(data).state}
    if frame_id is FrameId.REQUESTS:
        requests = parse_requests(data)
        return {
            "battery_permission": requests.allowed,
            "battery_charge_request": requests.charge_request,
        }
    return {}


class PylontechCanBattery(Driver):
    """A battery on a CAN bus, speaking the Pylontech protocol."""

    family: ClassVar[str] = "pylontech_can"
    manufacturer: ClassVar[str] = "Pylontech"
    model: ClassVar[str] = "CAN battery"
    keys: ClassVar[tuple[str, ...]] = tuple(
        key for keys in FRAME_KEYS.values() for key in keys
    )
    link: CanLink

    def __init__(
        self,
        link: CanLink,
        keepalive: bool = False,
        *,
        probe_time: float = PROBE_TIME,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Listen on ``link``; send the 0x305 keep-alive if ``keepalive``."""
        super().__init__(wall_clock=wall_clock)
        self.link = link
        self.keepalive = keepalive
        self.probe_time = probe_time
        self._monotonic = monotonic
        self.frames: dict[FrameId, Frame] = {}
        self.other_frames = 0
        self.bad_frames = 0
        self.name: str | None = None
        self._arrived = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    async def _async_listen(self) -> None:
        """Open the bus (again, after a failure) and listen to it."""
        if self._unsubscribe is None:
            self._unsubscribe = self.link.subscribe(self._on_frame)
            if self.keepalive:
                self.link.send_periodically(
                    FrameId.KEEPALIVE, KEEPALIVE_DATA, FRAME_PERIOD
                )
        await self.link.async_open()

    def _on_frame(self, message: can.Message) -> None:
        """Keep the latest frame of each of the battery's kinds."""
        if message.is_extended_id or message.arbitration_id not in BMS_FRAMES:
            self.other_frames += 1
            self._arrived.set()
            return
        frame_id = FrameId(message.arbitration_id)
        self.frames[frame_id] = Frame(
            bytes(message.data), self._wall_clock(), self._monotonic()
        )
        if frame_id is FrameId.NAME:
            self.name = parse_name(bytes(message.data)) or None
        self._arrived.set()

    def _fresh(self) -> dict[FrameId, Frame]:
        """Return the frames young enough to be the battery's state."""
        now = self._monotonic()
        return {
            frame_id: frame
            for frame_id, frame in self.frames.items()
            if now - frame.monotonic <= SILENCE_TIMEOUT
        }

    async def async_identify(self) -> Identity:
        """Listen until the battery's frames came by, or the probe time is up.

        A battery heard before is given two of its periods, not the probe
        time: an entry whose bus went quiet shows that sooner.

        Raises LinkError when the bus cannot be opened, DeviceSilentError
        when nothing is heard, and WrongDeviceError when only other frames
        are.
        """
        await self._async_listen()
        # A battery heard before that went quiet is silent now: one that is
        # back sends within a period or two, so no probe time is waited.
        wait = (
            min(self.probe_time, 2 * FRAME_PERIOD) if self.frames else self.probe_time
        )
        deadline = self._monotonic() + wait
        while not self._fresh().keys() >= set(BMS_FRAMES):
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        fresh = self._fresh()
        if not fresh.keys() >= _CORE_FRAMES:
            if not fresh and not self.other_frames:
                raise DeviceSilentError(
                    f"no CAN frames on {self.link.channel} within {self.probe_time:g} s"
                )
            raise WrongDeviceError(
                f"{self.link.channel} carries {self.other_frames} frames, but not"
                " the 0x355 and 0x356 of a battery speaking the Pylontech protocol"
            )
        self.commands = {}
        name = self.name or ""
        maker = (
            self.manufacturer
            if not name or name.upper().startswith("PYLON")
            else name.title()
        )
        # The protocol has no serial number, and the name may come late:
        # the identity compared is the family's, the bus tells batteries apart.
        return Identity(manufacturer=maker, model=self.model, serial_number="CAN")

    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Report what the battery's fresh frames say; ``due`` does not matter.

        Every frame is broadcast every second, so there is nothing to ask
        for. Raises LinkError when the bus cannot be reopened and
        DeviceSilentError when no frame of the battery is fresh.
        """
        await self._async_listen()
        fresh = self._fresh()
        if not fresh.keys() & FRAME_KEYS.keys():
            raise DeviceSilentError(
                f"no frames from the battery on {self.link.channel} for"
                f" {SILENCE_TIMEOUT:g} s"
            )
        poll = Poll()
        for frame_id, keys in FRAME_KEYS.items():
            poll.attempted.update(keys)
            if (frame := fresh.get(frame_id)) is None:
                continue
            try:
                values = frame_values(frame_id, frame.data)
            except BadResponseError:
                self.bad_frames += 1
                continue
            for key, value in values.items():
                if value is not None and (
                    reading := make_reading(key, value, frame.wall_time)
                ):
                    poll.readings[key] = reading
        return poll

    def diagnostics(self) -> Mapping[str, object]:
        """Return the bus, its counters, the latest frames and every flag set."""
        now = self._monotonic()
        return {
            "link": str(self.link.channel),
            "bitrate": self.link.channel.bitrate,
            "keepalive": self.keepalive,
            "connected": self.link.connected,
            "last_error": self.link.last_error,
            "frames_received": self.link.frames_received,
            "other_frames": self.other_frames,
            "bad_frames": self.bad_frames,
            "name": self.name,
            "frames": {
                f"0x{frame_id:03X}": {
                    "data": frame.data.hex(" "),
                    "fresh": now - frame.monotonic <= SILENCE_TIMEOUT,
                }
                for frame_id, frame in sorted(self.frames.items())
            },
            **self._flags(),
        }

    def _flags(self) -> dict[str, object]:
        """Return every flag set in the latest 0x359 and 0x35C frames."""
        flags: dict[str, object] = {"alarms": None, "requests": None}
        try:
            if (frame := self.frames.get(FrameId.ALARMS)) is not None:
                alarms = parse_alarms(frame.data)
                flags["alarms"] = {
                    "protections": sorted(alarms.protections),
                    "warnings": sorted(alarms.warnings),
                    "modules": alarms.modules,
                }
            if (frame := self.frames.get(FrameId.REQUESTS)) is not None:
                flags["requests"] = sorted(parse_requests(frame.data).flags)
        except BadResponseError as err:
            flags["error"] = str(err)
        return flags
