"""Simulated battery management systems on a TCP socket, as ser2net serves one.

``SerialPeer`` is a TCP server that speaks a serial protocol: it cuts the
bytes it receives into requests and writes back what an answer function
returns. pyserial reaches it as ``socket://HOST:PORT``, the way a BMS on
another machine is reached through ser2net. Tests give it scripted answers
(captured frames, garbage, silence); the emulators below answer from a
``Site``'s battery:

- ``PylontechStackEmulator``: a stack of N packs at consecutive addresses,
  the site battery split evenly over them (capacity and current);
- ``JkPbEmulator``: a JK PB BMS;
- ``DalyEmulator``: a Daly smart BMS.

Each is a ``BmsEmulator``: an async context manager (``async with ... as
bms``) with ``.port``, ``.url``, the bus ``address`` a driver is given and a
``description``; ``silent`` (``silent_packs`` for the stack) makes it stop
answering. ``EMULATORS`` builds one by family id, for ``eo simulate``.
"""

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
import struct
from types import TracebackType
from typing import Self

from custom_components.energy_orchestrator.lib.drivers.bms import (
    daly_protocol as daly,
    jk_protocol as jk,
)
from custom_components.energy_orchestrator.lib.drivers.bms.pylontech_protocol import (
    ALL_PACKS,
    CID1_BATTERY,
    Cid2,
    Frame,
    decode_frame,
    encode_frame,
    frame_end as pylontech_request_end,
)
from custom_components.energy_orchestrator.lib.drivers.errors import BadResponseError
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.site import Site

# Given the bytes received so far, the length of the first whole request.
type RequestEnd = Callable[[bytes], int | None]
# Given a request, the bytes to answer (none: stay silent).
type Answer = Callable[[bytes], bytes]

_READ_SIZE = 4096
# The latest requests a peer keeps, for tests and troubleshooting.
_KEPT_REQUESTS = 64


class SerialPeer:
    """A serial device behind a TCP socket: requests in, answers out."""

    def __init__(
        self,
        request_end: RequestEnd,
        answer: Answer,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Describe the peer; nothing listens before ``start``."""
        self.host = host
        self.port = port
        self.requests: deque[bytes] = deque(maxlen=_KEPT_REQUESTS)
        self.request_count = 0
        self._request_end = request_end
        self._answer = answer
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """Return the pyserial URL that reaches the peer."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"socket://{host}:{self.port}"

    async def start(self) -> None:
        """Listen; port 0 picks a free port, ``port`` tells which."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop the clients."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for writer in list(self._connections):
            writer.close()
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer one client's requests until it goes away."""
        self._connections.add(writer)
        buffer = b""
        try:
            while chunk := await reader.read(_READ_SIZE):
                buffer += chunk
                while (length := self._request_end(buffer)) is not None:
                    request, buffer = buffer[:length], buffer[length:]
                    self.requests.append(request)
                    self.request_count += 1
                    if reply := self._answer(request):
                        writer.write(reply)
                        await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._connections.discard(writer)
            writer.close()


class BmsEmulator(SerialPeer):
    """A simulated BMS: a peer at a bus ``address`` with a ``description``."""

    address: int

    @property
    def description(self) -> str:
        """Return the BMS as a user would name it."""
        raise NotImplementedError


type BatterySource = Callable[[], SimBattery]


def _battery_source(site: Site, sync: Callable[[], None] | None) -> BatterySource:
    """Return a function giving the site's battery, the site synced first."""

    def battery() -> SimBattery:
        if sync is not None:
            sync()
        return site.battery

    return battery


@dataclass(frozen=True, slots=True)
class PackState:
    """One pack's share of the site battery, as its BMS would measure it."""

    cell_voltages: tuple[float, ...]
    temperatures: tuple[float, ...]  # °C, the BMS board's first
    current: float  # A, > 0 charging
    voltage: float  # V
    remaining_capacity: float  # Ah
    total_capacity: float  # Ah
    cycles: int


def pack_states(battery: SimBattery, packs: int) -> list[PackState]:
    """Split the battery into ``packs`` equal packs in parallel.

    Cell voltages spread a few millivolts around the mean so the extremes
    differ, the way real cells do; temperatures are fixed per pack.
    """
    voltage = battery.terminal_voltage
    cells = battery.cells_in_series
    mean_cell = voltage / cells
    states = []
    for index in range(packs):
        spread = tuple(
            mean_cell + ((cell * 7 + index * 3) % 5 - 2) / 1000 for cell in range(cells)
        )
        states.append(
            PackState(
                cell_voltages=spread,
                # The BMS board runs warmer than its four cell sensors.
                temperatures=(25.0 + index, *[24.0 + index / 2] * 4),
                current=battery.measured_current / packs,
                voltage=voltage,
                remaining_capacity=battery.charge_ah / packs,
                total_capacity=battery.capacity_ah / packs,
                cycles=int(battery.charged_ah / battery.capacity_ah) + 100 + index,
            )
        )
    return states


def _extremes(values: tuple[float, ...]) -> tuple[int, int]:
    """Return the 1-based numbers of the highest and the lowest value."""
    highest = max(range(len(values)), key=values.__getitem__)
    lowest = min(range(len(values)), key=values.__getitem__)
    return highest + 1, lowest + 1


# Cell voltages a BMS is set to (charge request, undervoltage, overvoltage).
_CELL_LIMITS: Mapping[str, tuple[float, float, float]] = {
    "lfp": (3.50, 2.65, 3.65),
    "nmc": (4.10, 3.00, 4.20),
}
# Charge and discharge current limits, as fractions of the capacity (C-rate).
_CHARGE_RATE = 0.5
_DISCHARGE_RATE = 0.5


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
        super().__init__(pylontech_request_end, self.answer, host=host, port=port)
        self.packs = packs
        self.address = address
        self.battery_name = battery_name
        self.serial_prefix = serial_prefix
        self.battery = _battery_source(site, sync)
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
    _, under, over = _CELL_LIMITS[battery.chemistry]
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
        round(2 * pack_capacity * _CHARGE_RATE * 10),
        min(round((over - 0.05) * cells * 1000), 0xFFFF),
        min(round(low * cells * 1000), 0xFFFF),
        min(round(under * cells * 1000), 0xFFFF),
        _kelvin(60),
        _kelvin(-10),
        -round(2 * pack_capacity * _DISCHARGE_RATE * 10),
    )


def _management_info(battery: SimBattery, state: PackState, address: int) -> bytes:
    """Return a pack's 0x92 INFO: the limits it asks an inverter to keep."""
    charge, under, _ = _CELL_LIMITS[battery.chemistry]
    cells = battery.cells_in_series
    # Full packs take no more charge, empty ones give no more.
    charge_current = (
        0.0 if battery.soc >= 0.999 else state.total_capacity * _CHARGE_RATE
    )
    discharge_current = (
        0.0 if battery.soc <= 0.001 else state.total_capacity * _DISCHARGE_RATE
    )
    return bytes([address]) + struct.pack(
        ">HHhhB",
        min(round(charge * cells * 1000), 0xFFFF),
        min(round((under + 0.3) * cells * 1000), 0xFFFF),
        round(charge_current * 10),
        -round(discharge_current * 10),
        0xC0,
    )


# A JK PB request: address, 0x10, register, count, byte count, value, CRC.
_JK_REQUEST_LENGTH = 11


def _jk_request_end(buffer: bytes) -> int | None:
    """Return the length up to the end of the first intact 11-byte JK request.

    Scanning for a frame whose CRC fits resynchronises after line noise, as
    a real BMS does after the pause between frames.
    """
    for start in range(len(buffer) - _JK_REQUEST_LENGTH + 1):
        frame = buffer[start : start + _JK_REQUEST_LENGTH]
        if jk.with_crc(frame[:-2]) == frame:
            return start + _JK_REQUEST_LENGTH
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
        super().__init__(_jk_request_end, self.answer, host=host, port=port)
        self.address = address
        self.model = model
        self.serial_number = serial_number
        self.battery = _battery_source(site, sync)
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
            ">BBH", request, len(request) - _JK_REQUEST_LENGTH
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
                return _jk_cell_data(battery)
            case jk.Record.SETTINGS:
                return _jk_settings(battery)
        return _jk_device_info(self.model, self.serial_number)


def _put(payload: bytearray, offset: int, fmt: str, *values: float) -> None:
    """Write values at a record offset (offsets count from the header)."""
    struct.pack_into(fmt, payload, offset - 6, *values)


def _jk_cell_data(battery: SimBattery) -> bytes:
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


def _jk_settings(battery: SimBattery) -> bytes:
    """Return a settings record's payload for the battery."""
    charge, under, over = _CELL_LIMITS[battery.chemistry]
    payload = bytearray(jk.RECORD_LENGTH - 7)
    _put(payload, 10, "<I", round(under * 1000))
    _put(payload, 18, "<I", round(over * 1000))
    _put(payload, 38, "<I", round(charge * 1000))
    _put(payload, 50, "<I", round(battery.capacity_ah * _CHARGE_RATE * 1000))
    _put(payload, 62, "<I", round(battery.capacity_ah * _DISCHARGE_RATE * 1000))
    _put(payload, 114, "<IIII", battery.cells_in_series, 1, 1, 1)
    _put(payload, 130, "<I", round(battery.capacity_ah * 1000))
    return bytes(payload)


def _jk_device_info(model: str, serial_number: str) -> bytes:
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


def _daly_request_end(buffer: bytes) -> int | None:
    """Return the length up to the end of the first intact 13-byte Daly request."""
    start = buffer.find(bytes([daly.START]))
    while 0 <= start <= len(buffer) - daly.FRAME_LENGTH:
        frame = buffer[start : start + daly.FRAME_LENGTH]
        if frame[-1] == daly.checksum(frame):
            return start + daly.FRAME_LENGTH
        start = buffer.find(bytes([daly.START]), start + 1)
    return None


class DalyEmulator(BmsEmulator):
    """A Daly smart BMS board, the site battery its pack."""

    def __init__(
        self,
        site: Site,
        *,
        address: int = daly.MASTER_BOARD,
        sync: Callable[[], None] | None = None,
        host_addresses: tuple[int, ...] = daly.HOST_ADDRESSES,
        temperature_sensors: int = 2,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Build the board; ``start`` (or ``async with``) serves it.

        ``host_addresses`` are the host addresses the board answers.
        """
        super().__init__(_daly_request_end, self.answer, host=host, port=port)
        self.address = address
        self.host_addresses = host_addresses
        self.temperature_sensors = temperature_sensors
        self.battery = _battery_source(site, sync)
        self.silent = False
        self._cells = site.battery.cells_in_series

    @property
    def description(self) -> str:
        """Return the board as a user would name it."""
        return f"Daly smart BMS {self._cells}S, board {self.address}"

    def answer(self, request: bytes) -> bytes:
        """Return the frames answering a request, or nothing."""
        frame = request[-daly.FRAME_LENGTH :]
        if (
            self.silent
            or frame[1] not in self.host_addresses
            or frame[3] != daly.DATA_LENGTH
        ):
            return b""
        data_id = frame[2]
        return b"".join(
            daly.encode_frame(self.address, data_id, data)
            for data in self._data(data_id)
        )

    def _data(self, data_id: int) -> list[bytes]:
        """Return the data of the frames answering a data ID."""
        battery = self.battery()
        [state] = pack_states(battery, 1)
        cells = state.cell_voltages
        temperatures = [
            round(t) + 40 for t in state.temperatures[: self.temperature_sensors]
        ]
        match data_id:
            case daly.DataId.SOC:
                return [
                    struct.pack(
                        ">HHHH",
                        round(state.voltage * 10),
                        round(state.voltage * 10),
                        round(state.current * 10) + 30000,
                        round(battery.soc * 1000),
                    )
                ]
            case daly.DataId.CELL_VOLTAGE_RANGE:
                highest, lowest = _extremes(cells)
                return [
                    struct.pack(
                        ">HBHBxx",
                        round(cells[highest - 1] * 1000),
                        highest,
                        round(cells[lowest - 1] * 1000),
                        lowest,
                    )
                ]
            case daly.DataId.TEMPERATURE_RANGE:
                hottest = max(range(len(temperatures)), key=temperatures.__getitem__)
                coldest = min(range(len(temperatures)), key=temperatures.__getitem__)
                return [
                    bytes(
                        [
                            temperatures[hottest],
                            hottest + 1,
                            temperatures[coldest],
                            coldest + 1,
                        ]
                    ).ljust(daly.DATA_LENGTH, b"\x00")
                ]
            case daly.DataId.MOS_STATUS:
                state_code = (
                    1 if state.current > 0.5 else 2 if state.current < -0.5 else 0
                )
                return [
                    struct.pack(
                        ">BBBBI",
                        state_code,
                        1,
                        1,
                        state.cycles % 256,
                        round(state.remaining_capacity * 1000),
                    )
                ]
            case daly.DataId.STATUS:
                return [
                    struct.pack(
                        ">BBBBBHB",
                        len(cells),
                        len(temperatures),
                        int(state.current > 0),
                        int(state.current < 0),
                        0,
                        state.cycles,
                        0,
                    )
                ]
            case daly.DataId.CELL_VOLTAGES:
                millivolts = [round(v * 1000) for v in cells]
                millivolts += [0] * (-len(millivolts) % 3)
                return [
                    struct.pack(
                        ">BHHHx", number, *millivolts[3 * (number - 1) : 3 * number]
                    )
                    for number in range(1, len(millivolts) // 3 + 1)
                ]
            case daly.DataId.CELL_TEMPERATURES:
                padded = temperatures + [0] * (-len(temperatures) % 7)
                return [
                    bytes([number, *padded[7 * (number - 1) : 7 * number]])
                    for number in range(1, len(padded) // 7 + 1)
                ]
        return []


type EmulatorFactory = Callable[..., BmsEmulator]

# The BMS emulators by family id: ``EMULATORS[family](site, sync=..., host=...,
# port=...)`` builds one, ``async with`` serves it at ``.url``; each has an
# ``address`` (the unit a driver is given) and a ``description``.
EMULATORS: Mapping[str, EmulatorFactory] = {
    "pylontech": PylontechStackEmulator,
    "jk_pb": JkPbEmulator,
    "daly": DalyEmulator,
}
