"""A simulated JK PB series BMS, the site battery its pack."""

from collections.abc import Callable
import struct

from custom_components.energy_orchestrator.lib.drivers.bms import jk_protocol as jk
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.bms.common import (
    CELL_LIMITS,
    CHARGE_RATE,
    DISCHARGE_RATE,
    BmsEmulator,
    battery_source,
    pack_states,
)
from eo_lab.sim.site import Site

# A JK PB request: address, 0x10, register, count, byte count, value, CRC.
_REQUEST_LENGTH = 11


def _request_end(buffer: bytes) -> int | None:
    """Return the length up to the end of the first intact 11-byte JK request.

    Scanning for a frame whose CRC fits resynchronises after line noise, as
    a real BMS does after the pause between frames.
    """
    for start in range(len(buffer) - _REQUEST_LENGTH + 1):
        frame = buffer[start : start + _REQUEST_LENGTH]
        if jk.with_crc(frame[:-2]) == frame:
            return start + _REQUEST_LENGTH
    return None


class JkPbEmulator(BmsEmulator):
    """A JK PB series BMS at a bus address, the site battery its pack."""

    def __init__(
        self,
        site: Site,
        *,
        address: int = 1,
        sync: Callable[[], None] | None = None,
        model: str = "JK_PB2A16S15P",
        serial_number: str = "EOSIMJK0001",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Build the BMS; ``start`` (or ``async with``) serves it."""
        super().__init__(_request_end, self.answer, host=host, port=port)
        self.address = address
        self.model = model
        self.serial_number = serial_number
        self.battery = battery_source(site, sync)
        self.silent = False
        self._counter = 0

    @property
    def description(self) -> str:
        """Return the BMS as a user would name it."""
        return f"JK BMS {self.model} at address {self.address}, serial {self.serial_number}"

    def answer(self, request: bytes) -> bytes:
        """Return the record a register write asks for, and the write's answer."""
        if self.silent:
            return b""
        address, function, register = struct.unpack_from(
            ">BBH", request, len(request) - _REQUEST_LENGTH
        )
        if address != self.address or function != jk.WRITE_REGISTERS:
            return b""
        for record, trigger in jk.TRIGGER_REGISTERS.items():
            if trigger == register:
                self._counter += 1
                return jk.encode_record(
                    record, self._counter, self._payload(record)
                ) + jk.encode_echo(address, record)
        return b""

    def _payload(self, record: jk.Record) -> bytes:
        """Return a record's bytes from offset 6 on."""
        battery = self.battery()
        match record:
            case jk.Record.CELL_DATA:
                return _cell_data(battery)
            case jk.Record.SETTINGS:
                return _settings(battery)
        return _device_info(self.model, self.serial_number)


def _put(payload: bytearray, offset: int, fmt: str, *values: float) -> None:
    """Write values at a record offset (offsets count from the header)."""
    struct.pack_into(fmt, payload, offset - 6, *values)


def _cell_data(battery: SimBattery) -> bytes:
    """Return a cell data record's payload for the battery."""
    [state] = pack_states(battery, 1)
    cells = state.cell_voltages[: jk.MAX_CELLS]
    payload = bytearray(jk.RECORD_LENGTH - 7)
    for index, volts in enumerate(cells):
        _put(payload, 6 + 2 * index, "<H", round(volts * 1000))
    _put(payload, 70, "<I", (1 << len(cells)) - 1)
    _put(payload, 74, "<H", round(sum(cells) / len(cells) * 1000))
    _put(payload, 76, "<H", round((max(cells) - min(cells)) * 1000))
    # The MOSFETs run two degrees above the board.
    _put(payload, 144, "<h", round((state.temperatures[0] + 2) * 10))
    _put(payload, 150, "<I", round(state.voltage * 1000))
    _put(payload, 154, "<I", round(abs(state.voltage * state.current) * 1000))
    _put(payload, 158, "<i", round(state.current * 1000))
    _put(
        payload,
        162,
        "<hh",
        round(state.temperatures[1] * 10),
        round(state.temperatures[0] * 10),
    )
    _put(payload, 173, "<B", round(100 * battery.soc))
    _put(
        payload,
        174,
        "<II",
        round(state.remaining_capacity * 1000),
        round(state.total_capacity * 1000),
    )
    _put(payload, 182, "<I", state.cycles)
    _put(payload, 190, "<B", 100)
    _put(payload, 198, "<BB", 1, 1)
    return bytes(payload)


def _settings(battery: SimBattery) -> bytes:
    """Return a settings record's payload for the battery."""
    charge, under, over = CELL_LIMITS[battery.chemistry]
    payload = bytearray(jk.RECORD_LENGTH - 7)
    _put(payload, 10, "<I", round(under * 1000))
    _put(payload, 18, "<I", round(over * 1000))
    _put(payload, 38, "<I", round(charge * 1000))
    _put(payload, 50, "<I", round(battery.capacity_ah * CHARGE_RATE * 1000))
    _put(payload, 62, "<I", round(battery.capacity_ah * DISCHARGE_RATE * 1000))
    _put(payload, 114, "<IIII", battery.cells_in_series, 1, 1, 1)
    _put(payload, 130, "<I", round(battery.capacity_ah * 1000))
    return bytes(payload)


def _device_info(model: str, serial_number: str) -> bytes:
    """Return a device information record's payload."""
    payload = bytearray(jk.RECORD_LENGTH - 7)
    for offset, size, text in (
        (6, 16, model),
        (22, 8, "15.XA"),
        (30, 8, "15.10"),
        (46, 16, "EO simulator"),
        (78, 8, "250101"),
        (86, 11, serial_number),
    ):
        raw = text.encode("ascii")[:size]
        payload[offset - 6 : offset - 6 + len(raw)] = raw
    _put(payload, 38, "<II", 86400, 1)
    return bytes(payload)
