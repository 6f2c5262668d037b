"""Eastron SDM120 and SDM72D-M V2 emulators, built like the SDM630's.

They reuse ``SDM630Emulator`` (``eastron``): the same float encoding from
a live value source, the same serial number and settings registers, the
same silent mode. What changes is which input registers answer: exactly the
model's (``SDM120_INPUT_REGISTERS``, ``SDM72_INPUT_REGISTERS``), everything
else "illegal data address", as on the real meter.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from pymodbus.simulator import DataType, SimData, SimDevice

from custom_components.energy_orchestrator.lib.drivers.eastron import SERIAL_NUMBER
from custom_components.energy_orchestrator.lib.drivers.eastron_variants import (
    SDM72_INPUT_REGISTERS,
    SDM72_POINTS,
    SDM120_INPUT_REGISTERS,
    SDM120_POINTS,
)
from custom_components.energy_orchestrator.lib.drivers.registers import Point
from eo_lab.sim.devices.eastron import (
    SDM630_HOLDING_RANGES,
    SDM630_SERIAL_RANGE,
    SDM630Emulator,
    without_addresses,
    zeroed_registers,
)
from eo_lab.sim.servers import silent_device
from eo_lab.sim.site import Site

type EastronModel = Literal["SDM120", "SDM72"]

_MODELS: Mapping[str, tuple[tuple[int, ...], tuple[Point, ...]]] = {
    "SDM120": (SDM120_INPUT_REGISTERS, SDM120_POINTS),
    "SDM72": (SDM72_INPUT_REGISTERS, SDM72_POINTS),
}


def input_ranges(registers: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Return the address ranges (end exclusive) two-register floats cover."""
    ranges: list[tuple[int, int]] = []
    for address in sorted(set(registers)):
        if ranges and ranges[-1][1] == address:
            ranges[-1] = (ranges[-1][0], address + 2)
        else:
            ranges.append((address, address + 2))
    return tuple(ranges)


class EastronEmulator(SDM630Emulator):
    """An SDM120 or SDM72D-M V2 whose input registers follow a live value source.

    ``values_fn`` returns values by the model's canonical keys (the keys of
    ``SDM120_POINTS`` or ``SDM72_POINTS``).
    """

    def __init__(
        self,
        model: EastronModel,
        serial_number: int,
        values_fn: Callable[[], Mapping[str, float]],
        *,
        holes: Iterable[int] = (),
        silent: bool = False,
    ) -> None:
        """Describe the meter; ``sim_device`` builds its Modbus device."""
        super().__init__(serial_number, values_fn, holes=holes, silent=silent)
        registers, points = _MODELS[model]
        self.model = "SDM72D-M V2" if model == "SDM72" else model
        self.input_ranges = input_ranges(registers)
        self._input_points = tuple(sorted(points, key=lambda p: p.address))

    def sim_device(self, unit: int) -> SimDevice:
        """Return the pymodbus device that serves this meter at ``unit``."""
        if self.silent:
            return silent_device(unit)
        serial_words = SERIAL_NUMBER.encode(self.serial_number)
        serial_start, serial_end = SDM630_SERIAL_RANGE
        padding = [0] * (serial_end - serial_start - len(serial_words))
        holding = [
            *zeroed_registers(SDM630_HOLDING_RANGES),
            SimData(
                serial_start,
                values=serial_words + padding,
                datatype=DataType.UINT16,
                readonly=True,
            ),
        ]
        inputs = zeroed_registers(without_addresses(self.input_ranges, self.holes))
        bits = [SimData(0, values=0, datatype=DataType.BITS)]
        return SimDevice(
            id=unit,
            simdata=(bits, list(bits), holding, inputs),
            action=self._action,
        )


def single_phase_values(site: Site, phase: int = 1) -> dict[str, float]:
    """Return what an SDM120 on one phase of the site's grid connection reads.

    Its counters are the phase's own; its power, VA, var and power factor
    those of that phase.
    """
    meter = site.grid_meter_values()
    name = f"l{phase}"
    power = meter[f"grid_power_{name}"]
    volts = meter[f"ac_voltage_{name}"]
    amps = meter[f"ac_current_{name}"]
    apparent = volts * amps
    return {
        "ac_voltage_l1": volts,
        "ac_current_l1": amps,
        "grid_power": power,
        "grid_apparent_power": apparent,
        "grid_reactive_power": max(apparent * apparent - power * power, 0.0) ** 0.5,
        "grid_power_factor": meter[f"ac_power_factor_{name}"],
        "frequency": meter["frequency"],
        "grid_import_energy": meter[f"grid_import_energy_{name}"],
        "grid_export_energy": meter[f"grid_export_energy_{name}"],
    }
