"""What the GX driver reads from each Victron service, in the value model's terms.

Each ``Derived`` names the registers (by dbus path, or by address where a
path is served twice) a canonical key comes from, and how: one register, or
the sum of several (three phases, or PV on AC-out, AC-in, generator and DC).
Registers, types and scales come from Victron's table (``table.py``).

Signs: Victron's grid power is > 0 when importing, its battery current and
power are > 0 when charging: both the value model's signs already.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from ..cadence import Cadence

_KWH = 1000.0  # Victron counts kWh, the value model Wh
PHASES = (1, 2, 3)


@dataclass(frozen=True, slots=True)
class Derived:
    """A canonical key and the registers it is computed from.

    ``refs`` are dbus paths or register addresses of one service; several
    are summed, and the sum is absent unless every one was read. ``factor``
    converts units; ``magnitude`` drops a sign the value model does not
    have (AC currents); ``zero_is_absent`` reads 0 as "the service has no
    such value", which is how the GX sends a value it lacks; ``states`` maps
    a raw enumeration onto the key's options.
    """

    key: str
    refs: tuple[str | int, ...]
    cadence: Cadence = Cadence.FAST
    factor: float = 1.0
    magnitude: bool = False
    zero_is_absent: bool = False
    states: Mapping[int, str] | None = None

    def combine(self, values: Mapping[str | int, float | None]) -> float | str | None:
        """Return the key's value from the decoded registers, or None."""
        parts = [values.get(ref) for ref in self.refs]
        if any(part is None for part in parts):
            return None
        total = sum(part for part in parts if part is not None)
        if self.states is not None:
            return self.states.get(round(total), "unknown")
        if self.magnitude:
            total = abs(total)
        return total * self.factor


def _one(
    key: str,
    ref: str | int,
    cadence: Cadence = Cadence.FAST,
    *,
    factor: float = 1.0,
    magnitude: bool = False,
    zero_is_absent: bool = False,
) -> Derived:
    """Return a key read from one register."""
    return Derived(
        key,
        (ref,),
        cadence,
        factor=factor,
        magnitude=magnitude,
        zero_is_absent=zero_is_absent,
    )


# com.victronenergy.vebus /State onto the value model's inverter modes.
VEBUS_STATES: Mapping[int, str] = {
    0: "off",
    1: "sleeping",  # low power (search mode)
    2: "fault",
    3: "charging",  # bulk
    4: "charging",  # absorption
    5: "charging",  # float
    6: "charging",  # storage
    7: "charging",  # equalize
    8: "bypass",  # passthru
    9: "battery",  # inverting
    10: "grid",  # power assist: grid and battery together
    11: "charging",  # power supply
    245: "starting",  # wake-up
    252: "grid",  # external control: ESS steers it on the grid
}

# The system overview (unit 100): the GX's own sums over its devices.
# Registers 808-822 are also served as 32-bit copies at 884-918 since Venus
# v3.x; the 16-bit ones every GX has are read (32 kW per phase is plenty).
SYSTEM_READINGS: tuple[Derived, ...] = (
    *(_one(f"grid_power_l{phase}", 819 + phase) for phase in PHASES),
    Derived("grid_power", (820, 821, 822)),
    # PV on AC-out, on AC-in, on the generator input, and DC-coupled.
    Derived("pv_power", (*range(808, 817), "/Dc/Pv/Power")),
    Derived("load_power", (817, 818, 819)),
    _one("battery_voltage", "/Dc/Battery/Voltage"),
    _one("battery_current", "/Dc/Battery/Current"),
    _one("battery_power", "/Dc/Battery/Power"),
    _one("battery_soc", "/Dc/Battery/Soc"),
)

# A battery (BMS or battery monitor). The GX sends 0 for what a battery
# monitor does not know (limits, cells): 0 is kept for current limits, where
# it means "do not charge" and erring that way is safe, and read as absent
# where 0 cannot be real.
BATTERY_READINGS: tuple[Derived, ...] = (
    _one("battery_voltage", "/Dc/0/Voltage"),
    _one("battery_current", "/Dc/0/Current"),
    _one("battery_power", 258),  # 256 is the later 32-bit copy
    _one("battery_temperature", "/Dc/0/Temperature"),
    _one("battery_soc", "/Soc"),
    _one("battery_charge_current_limit", "/Info/MaxChargeCurrent"),
    _one("battery_discharge_current_limit", "/Info/MaxDischargeCurrent"),
    _one("cell_voltage_min", "/System/MinCellVoltage", zero_is_absent=True),
    _one("cell_voltage_max", "/System/MaxCellVoltage", zero_is_absent=True),
    _one("battery_soh", "/Soh", Cadence.SLOW, zero_is_absent=True),
    _one(
        "battery_charge_voltage_limit",
        "/Info/MaxChargeVoltage",
        Cadence.SLOW,
        zero_is_absent=True,
    ),
    _one(
        "battery_discharge_voltage_limit",
        "/Info/BatteryLowVoltage",
        Cadence.SLOW,
        zero_is_absent=True,
    ),
    _one("battery_capacity", "/Capacity", Cadence.SLOW, zero_is_absent=True),
    _one("battery_cycles", "/History/ChargeCycles", Cadence.SLOW),
    _one("battery_charge_energy", "/History/ChargedEnergy", Cadence.SLOW, factor=_KWH),
    _one(
        "battery_discharge_energy",
        "/History/DischargedEnergy",
        Cadence.SLOW,
        factor=_KWH,
    ),
)


def vebus_readings(phases: int) -> tuple[Derived, ...]:
    """Return what is read from a VE.Bus inverter/charger with ``phases`` phases.

    The GX sends 0 for the phases a system does not have, so only the
    phases the inverter reports (``/Ac/NumberOfPhases``) are read.
    """
    used = PHASES[: max(1, min(phases, 3))]
    return (
        Derived("inverter_mode", ("/State",), states=VEBUS_STATES),
        _one("ac_input_voltage", "/Ac/ActiveIn/L1/V"),
        _one("ac_input_frequency", "/Ac/ActiveIn/L1/F"),
        _one("ac_output_voltage", "/Ac/Out/L1/V"),
        _one("ac_output_frequency", "/Ac/Out/L1/F"),
        Derived("ac_output_power", tuple(f"/Ac/Out/L{phase}/P" for phase in used)),
        *(_one(f"ac_voltage_l{phase}", f"/Ac/Out/L{phase}/V") for phase in used),
        *(
            _one(f"ac_current_l{phase}", f"/Ac/Out/L{phase}/I", magnitude=True)
            for phase in used
        ),
        _one("battery_voltage", "/Dc/0/Voltage"),
        _one("battery_current", "/Dc/0/Current"),
    )


# A grid meter (com.victronenergy.grid): registers 2600-2608 are the 16-bit
# originals, 2622-2643 the 32-bit ones; power is read from the originals,
# energy from the 32-bit counters (the 16-bit ones wrap at 655 kWh).
GRID_READINGS: tuple[Derived, ...] = (
    *(_one(f"grid_power_l{phase}", 2599 + phase) for phase in PHASES),
    Derived("grid_power", (2600, 2601, 2602)),
    *(
        _one(f"ac_voltage_l{phase}", f"/Ac/L{phase}/Voltage", zero_is_absent=True)
        for phase in PHASES
    ),
    *(
        _one(f"ac_current_l{phase}", f"/Ac/L{phase}/Current", magnitude=True)
        for phase in PHASES
    ),
    _one("frequency", "/Ac/Frequency"),
    _one("grid_power_factor", "/Ac/PowerFactor"),
    *(
        _one(f"ac_power_factor_l{phase}", f"/Ac/L{phase}/PowerFactor")
        for phase in PHASES
    ),
    *(
        _one(
            f"grid_import_energy_l{phase}",
            2620 + 2 * phase,
            Cadence.SLOW,
            factor=_KWH,
        )
        for phase in PHASES
    ),
    *(
        _one(
            f"grid_export_energy_l{phase}",
            2626 + 2 * phase,
            Cadence.SLOW,
            factor=_KWH,
        )
        for phase in PHASES
    ),
    _one("grid_import_energy", "/Ac/Energy/Forward", Cadence.SLOW, factor=_KWH),
    _one("grid_export_energy", "/Ac/Energy/Reverse", Cadence.SLOW, factor=_KWH),
)

# A solar charger (MPPT). /Yield/Power is read at 789 (16-bit, 0.1 W steps,
# served by every GX) rather than its later 32-bit copy at 792; /Pv/I is
# computed by the GX as power over voltage.
SOLAR_CHARGER_READINGS: tuple[Derived, ...] = (
    _one("pv_voltage", "/Pv/V"),
    _one("pv_current", "/Pv/I"),
    _one("pv_power", 789),
    _one("pv_energy", 790, Cadence.SLOW, factor=_KWH),
)
