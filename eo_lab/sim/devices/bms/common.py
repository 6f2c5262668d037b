"""What the BMS emulators share: the base class and the battery seen as packs.

A ``BmsEmulator`` is a ``SerialPeer`` at a bus ``address`` with a
``description``; ``pack_states`` splits the site battery into the packs a
BMS measures; ``CELL_LIMITS`` and the C-rates are the settings a BMS is set to.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.serial_peer import SerialPeer
from eo_lab.sim.site import Site


class BmsEmulator(SerialPeer):
    """A simulated BMS: a peer at a bus ``address`` with a ``description``."""

    address: int

    @property
    def description(self) -> str:
        """Return the BMS as a user would name it."""
        raise NotImplementedError


type BatterySource = Callable[[], SimBattery]


def battery_source(site: Site, sync: Callable[[], None] | None) -> BatterySource:
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


# Cell voltages a BMS is set to (charge request, undervoltage, overvoltage).
CELL_LIMITS: Mapping[str, tuple[float, float, float]] = {
    "lfp": (3.50, 2.65, 3.65),
    "nmc": (4.10, 3.00, 4.20),
}
# Charge and discharge current limits, as fractions of the capacity (C-rate).
CHARGE_RATE = 0.5
DISCHARGE_RATE = 0.5
