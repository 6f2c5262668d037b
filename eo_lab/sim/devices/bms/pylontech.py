"""A simulated Pylontech stack: N packs at consecutive addresses.

The site battery is split evenly over the packs (capacity and current); the
master at ``address`` answers for every pack at once where its firmware can.
"""

from collections.abc import Callable
import struct

from custom_components.energy_orchestrator.lib.drivers.bms.pylontech_protocol import (
    ALL_PACKS,
    CID1_BATTERY,
    Cid2,
    Frame,
    decode_frame,
    encode_frame,
    frame_end,
)
from custom_components.energy_orchestrator.lib.drivers.errors import BadResponseError
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.bms.common import (
    CELL_LIMITS,
    CHARGE_RATE,
    DISCHARGE_RATE,
    BmsEmulator,
    PackState,
    battery_source,
    pack_states,
)
from eo_lab.sim.site import Site


class PylontechStackEmulator(BmsEmulator):
    """A Pylontech stack of ``packs`` packs, the master at ``address``."""

    def __init__(
        self,
        site: Site,
        *,
        packs: int = 2,
        address: int = 2,
        sync: Callable[[], None] | None = None,
        battery_name: str = "US2KBPL",
        serial_prefix: str = "EOSIMPYL",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Build the stack; ``start`` (or ``async with``) serves it."""
        if not 1 <= packs <= 15:
            raise ValueError("a Pylontech stack has 1 to 15 packs")
        super().__init__(frame_end, self.answer, host=host, port=port)
        self.packs = packs
        self.address = address
        self.battery_name = battery_name
        self.serial_prefix = serial_prefix
        self.battery = battery_source(site, sync)
        # 1-based pack numbers that do not answer.
        self.silent_packs: set[int] = set()
        # Commands answered with "not supported" (RTN 04).
        self.unsupported: set[int] = set()
        # Whether the master answers for every pack at once (COMMAND 0xFF);
        # older firmware answers "invalid data" (RTN 06).
        self.answers_all_packs = True

    @property
    def description(self) -> str:
        """Return the stack as a user would name it."""
        return (
            f"Pylontech stack of {self.packs} {self.battery_name} packs at"
            f" address {self.address}, serial {self.serial_number(1)}"
        )

    def serial_number(self, pack: int) -> str:
        """Return the serial number of a pack (1-based)."""
        return f"{self.serial_prefix}{pack:04d}"

    def answer(self, request: bytes) -> bytes:
        """Return a pack's answer to a request, or nothing."""
        try:
            frame = decode_frame(request)
        except BadResponseError:
            return b""
        pack = frame.address - self.address + 1
        if (
            frame.cid1 != CID1_BATTERY
            or not 1 <= pack <= self.packs
            or pack in self.silent_packs
        ):
            return b""
        if frame.code in self.unsupported:
            return self._reply(frame.address, b"", code=0x04)
        if frame.info == bytes([ALL_PACKS]) and not self.answers_all_packs:
            return self._reply(frame.address, b"", code=0x06)
        return self._reply(frame.address, self._info(frame, pack))

    def _reply(self, address: int, info: bytes, *, code: int = 0) -> bytes:
        """Return an answer frame from ``address``."""
        return encode_frame(Frame(0x20, address, CID1_BATTERY, code, info))

    def _info(self, frame: Frame, pack: int) -> bytes:
        """Return the INFO answering a command."""
        battery = self.battery()
        states = pack_states(battery, self.packs)
        address = frame.address
        match frame.code:
            case Cid2.PROTOCOL_VERSION:
                return b""
            case Cid2.MANUFACTURER_INFO:
                return (
                    self.battery_name.encode().ljust(10, b"\x00")[:10]
                    + bytes([2, 3])
                    + b"Pylon".ljust(20, b"-")
                )
            case Cid2.ANALOG if frame.info == bytes([ALL_PACKS]) and pack == 1:
                answering = [
                    state
                    for index, state in enumerate(states, start=1)
                    if index not in self.silent_packs
                ]
                return bytes([0x11, len(answering)]) + b"".join(
                    _analog_block(state) for state in answering
                )
            case Cid2.ANALOG:
                return bytes([0x00, address]) + _analog_block(states[pack - 1])
            case Cid2.ALARMS:
                state = states[pack - 1]
                return (
                    bytes([0x00, address, len(state.cell_voltages)])
                    + bytes(len(state.cell_voltages))
                    + bytes([len(state.temperatures)])
                    + bytes(len(state.temperatures))
                    + bytes([0, 0, 0, 0x00, 0x0E, 0x80, 0x00, 0x00])
                )
            case Cid2.SYSTEM_PARAMETERS:
                return _system_parameters(battery, self.packs)
            case Cid2.MANAGEMENT_INFO:
                return _management_info(battery, states[pack - 1], address)
            case Cid2.SERIAL_NUMBER:
                return bytes([address]) + self.serial_number(pack).encode().ljust(
                    16, b"\x00"
                )
            case Cid2.SOFTWARE_VERSION:
                return bytes([address, 2, 3, 0, 6, 5])
        return b""


def _kelvin(celsius: float) -> int:
    """Return a temperature in the protocol's 0.1 K."""
    return round(celsius * 10) + 2731


def _analog_block(state: PackState) -> bytes:
    """Return one pack's 0x42 record."""
    cells = state.cell_voltages
    block = bytes([len(cells)]) + struct.pack(
        f">{len(cells)}H", *(round(v * 1000) for v in cells)
    )
    block += bytes([len(state.temperatures)]) + struct.pack(
        f">{len(state.temperatures)}h", *(_kelvin(t) for t in state.temperatures)
    )
    remaining = round(state.remaining_capacity * 1000)
    total = round(state.total_capacity * 1000)
    large = total > 0xFFFF
    block += struct.pack(
        ">hHHBHH",
        round(state.current * 10),
        round(state.voltage * 1000),
        0xFFFF if large else remaining,
        4 if large else 2,
        0xFFFF if large else total,
        state.cycles,
    )
    if large:
        block += remaining.to_bytes(3, "big") + total.to_bytes(3, "big")
    return block


def _system_parameters(battery: SimBattery, packs: int) -> bytes:
    """Return the stack's 0x47 INFO: protection thresholds per pack."""
    _, under, over = CELL_LIMITS[battery.chemistry]
    cells = battery.cells_in_series
    pack_capacity = battery.capacity_ah / packs
    # Alarms sound 0.4 V per cell above the undervoltage protection, and
    # the module's high limit sits a little under every cell's overvoltage.
    low = under + 0.4
    return bytes([0x11]) + struct.pack(
        ">HHHhhhHHHhhh",
        round(over * 1000),
        round(low * 1000),
        round(under * 1000),
        _kelvin(60),
        _kelvin(-10),
        round(2 * pack_capacity * CHARGE_RATE * 10),
        min(round((over - 0.05) * cells * 1000), 0xFFFF),
        min(round(low * cells * 1000), 0xFFFF),
        min(round(under * cells * 1000), 0xFFFF),
        _kelvin(60),
        _kelvin(-10),
        -round(2 * pack_capacity * DISCHARGE_RATE * 10),
    )


def _management_info(battery: SimBattery, state: PackState, address: int) -> bytes:
    """Return a pack's 0x92 INFO: the limits it asks an inverter to keep."""
    charge, under, _ = CELL_LIMITS[battery.chemistry]
    cells = battery.cells_in_series
    # Full packs take no more charge, empty ones give no more.
    charge_current = 0.0 if battery.soc >= 0.999 else state.total_capacity * CHARGE_RATE
    discharge_current = (
        0.0 if battery.soc <= 0.001 else state.total_capacity * DISCHARGE_RATE
    )
    return bytes([address]) + struct.pack(
        ">HHhhB",
        min(round(charge * cells * 1000), 0xFFFF),
        min(round((under + 0.3) * cells * 1000), 0xFFFF),
        round(charge_current * 10),
        -round(discharge_current * 10),
        0xC0,
    )
