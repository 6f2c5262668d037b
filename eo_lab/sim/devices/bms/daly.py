"""A simulated Daly smart BMS board, the site battery its pack."""

from collections.abc import Callable
import struct

from custom_components.energy_orchestrator.lib.drivers.bms import (
    daly_protocol as daly,
)
from eo_lab.sim.devices.bms.common import BmsEmulator, battery_source, pack_states
from eo_lab.sim.site import Site


def _extremes(values: tuple[float, ...]) -> tuple[int, int]:
    """Return the 1-based numbers of the highest and the lowest value."""
    highest = max(range(len(values)), key=values.__getitem__)
    lowest = min(range(len(values)), key=values.__getitem__)
    return highest + 1, lowest + 1


def _request_end(buffer: bytes) -> int | None:
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
        super().__init__(_request_end, self.answer, host=host, port=port)
        self.address = address
        self.host_addresses = host_addresses
        self.temperature_sensors = temperature_sensors
        self.battery = battery_source(site, sync)
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
