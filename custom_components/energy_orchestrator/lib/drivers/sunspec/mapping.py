"""Which SunSpec points give which canonical keys, with the project's signs.

The decoding is generic (``codec``); this module is the per-model knowledge:
a table of canonical keys for each kind of model, each read from the first
point of a list that the device implements. Signs are turned into the value
model's here, once:

- Inverter models 101-103/111-113: ``W`` is the AC power the inverter feeds
  out, > 0 producing: the value model's ``ac_power`` sign as is. ``DCW`` is
  the PV (DC input) power.
- Meter models 201-204/211-214: SunSpec meters count ``W`` > 0 for power
  flowing from the grid into the site (the direction of ``TotWhImp``), the
  value model's ``grid_power`` sign (evcc, whose grid meters count import
  > 0, reads Fronius GEN24's meter ``W`` as is). SolarEdge's inverters report
  their meters the other way round (export > 0: evcc's SolarEdge grid meter
  template negates ``W``, and solaredge-modbus-multi documents negative as
  import), so the driver negates the meter powers of devices whose
  manufacturer is in ``EXPORT_POSITIVE_METERS``.
  Currents are reported as magnitudes, the value model's ``ac_current``.
- Battery model 802: its JSON describes ``A`` and ``W`` only as the current
  and power "flowing to/from the battery bank". SunSpec's DER models state
  the sign they use for storage: power is > 0 for generation (701 ``W``:
  "positive for DER generation and negative for absorption"; 704 ``WSet``:
  "may be negative for charging"), so a discharging battery reads > 0. The
  value model counts charging > 0: both are negated.
- Storage model 124: ``ChaState`` is the state of charge in % of capacity.
- Lithium-ion string model 804: ``A`` is described only as the "string
  current"; it is read with 802's sign (discharge > 0) and negated the same
  way.
- Power factors (``PF`` of 101-103/111-113 and of the meters) are labelled
  "Pct" in the models, but devices differ: SMA reports the ratio (-0.996
  with ``PF_SF`` -3), others a percentage. A magnitude above 1 is read as a
  percentage and divided by 100.
- Settings 121 give ``WMax``, the power the inverter is set to give at most;
  status 122 gives ``ECPConn`` (bit 0: connected to the grid). Pricing 125
  and volt-var 126 are decoded at identification (diagnostics show them)
  and map to no key: a volt-var curve is grid-code compliance, not
  something a household steers.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ..cadence import Cadence
from .codec import GroupValues

type Reading = float | str | None


class Role(StrEnum):
    """What a model is about, as far as the canonical keys go."""

    COMMON = "common"
    INVERTER = "inverter"
    NAMEPLATE = "nameplate"
    CONTROLS = "controls"
    STORAGE = "storage"
    MPPT = "mppt"
    METER = "meter"
    BATTERY = "battery"
    BATTERY_BANK = "battery_bank"
    BATTERY_STRING = "battery_string"
    DER_CONTROLS = "der_controls"
    SETTINGS = "settings"
    STATUS = "status"
    PRICING = "pricing"
    VOLT_VAR = "volt_var"


ROLES: Mapping[int, Role] = {
    1: Role.COMMON,
    **dict.fromkeys((101, 102, 103, 111, 112, 113), Role.INVERTER),
    120: Role.NAMEPLATE,
    121: Role.SETTINGS,
    122: Role.STATUS,
    123: Role.CONTROLS,
    124: Role.STORAGE,
    125: Role.PRICING,
    126: Role.VOLT_VAR,
    160: Role.MPPT,
    **dict.fromkeys((201, 202, 203, 204, 211, 212, 213, 214), Role.METER),
    704: Role.DER_CONTROLS,
    802: Role.BATTERY,
    803: Role.BATTERY_BANK,
    804: Role.BATTERY_STRING,
}

# Manufacturers (model 1 ``Mn``, compared case-insensitively) whose meter
# models count export as positive power, against the SunSpec convention.
EXPORT_POSITIVE_METERS: frozenset[str] = frozenset({"solaredge"})

# SunSpec operating states (``St`` of the inverter models) as the options of
# the ``inverter_mode`` quantity. MPPT is the inverter producing into the grid.
OPERATING_STATES: Mapping[str, str] = {
    "OFF": "off",
    "SLEEPING": "sleeping",
    "STARTING": "starting",
    "MPPT": "grid",
    "THROTTLED": "throttled",
    "SHUTTING_DOWN": "shutting_down",
    "FAULT": "fault",
    "STANDBY": "standby",
}


@dataclass(frozen=True, slots=True)
class KeyMap:
    """How one canonical key is read from a model's decoded values.

    ``points`` are the points the value comes from, for deciding whether a
    device has the key at all: it has it when one of them is mandatory in
    the model, or answered a value when the device was identified.
    """

    key: str
    points: tuple[str, ...]
    read: Callable[[GroupValues], Reading]
    cadence: Cadence = Cadence.FAST

    def available(self, values: GroupValues) -> bool:
        """Return whether the device has this key, judged by its values."""
        for name in self.points:
            point = values.definition.point(name)
            if point is not None and (point.mandatory or values.get(name) is not None):
                return True
        return False


def _first(
    key: str,
    *points: str,
    cadence: Cadence = Cadence.FAST,
    sign: float = 1.0,
    magnitude: bool = False,
) -> KeyMap:
    """Map a key to the first of ``points`` the device implements."""

    def read(values: GroupValues) -> Reading:
        for name in points:
            number = values.number(name)
            if number is not None:
                number = abs(number) if magnitude else number * sign
                # -0.0 would show as "-0 W".
                return number + 0.0
        return None

    return KeyMap(key, points, read, cadence)


def _operating_state(values: GroupValues) -> Reading:
    """Return ``St`` as an ``inverter_mode`` option."""
    symbol = values.symbol("St")
    if symbol is None:
        return None if values.get("St") is None else "unknown"
    # Model 111's official JSON names its states "ggOFF", "ggMPPT"...
    return OPERATING_STATES.get(symbol.removeprefix("gg"), "unknown")


def _power_factor(point: str) -> Callable[[GroupValues], Reading]:
    """Return a reader of a power factor as a ratio (see the module doc)."""

    def read(values: GroupValues) -> Reading:
        number = values.number(point)
        if number is None:
            return None
        return number / 100 if abs(number) > 1 else number

    return read


def _grid_connection(values: GroupValues) -> Reading:
    """Return 122's ``ECPConn`` as a ``grid_connection`` option."""
    raw = values.get("ECPConn")
    if not isinstance(raw, int):
        return None
    return "connected" if raw & 1 else "disconnected"


def _power_limit(percent: str, enabled: str) -> Callable[[GroupValues], Reading]:
    """Return a reader of the active power limit in effect.

    A limit that is not enabled does not limit: the inverter may give 100 %.
    """

    def read(values: GroupValues) -> Reading:
        state = values.get(enabled)
        if state == 0:
            return 100.0
        return values.number(percent)

    return read


_PHASES = (("1", "A"), ("2", "B"), ("3", "C"))
_LINES = (("l1_l2", "AB"), ("l2_l3", "BC"), ("l3_l1", "CA"))

INVERTER_MAP: tuple[KeyMap, ...] = (
    _first("ac_power", "W"),
    _first("ac_energy", "WH", cadence=Cadence.SLOW),
    *(_first(f"ac_current_l{n}", f"Aph{p}") for n, p in _PHASES),
    *(_first(f"ac_voltage_l{n}", f"PhVph{p}") for n, p in _PHASES),
    *(_first(f"ac_voltage_{n}", f"PPVph{p}") for n, p in _LINES),
    _first("frequency", "Hz"),
    _first("ac_apparent_power", "VA"),
    _first("ac_reactive_power", "VAr"),
    KeyMap("ac_power_factor", ("PF",), _power_factor("PF")),
    _first("pv_power", "DCW"),
    _first("pv_voltage", "DCV"),
    _first("pv_current", "DCA"),
    _first("inverter_temperature", "TmpSnk", "TmpCab", cadence=Cadence.SLOW),
    KeyMap("inverter_mode", ("St",), _operating_state),
)

NAMEPLATE_MAP: tuple[KeyMap, ...] = (
    _first("battery_capacity", "AhrRtg", cadence=Cadence.SLOW),
)

SETTINGS_MAP: tuple[KeyMap, ...] = (
    _first("inverter_max_power", "WMax", cadence=Cadence.SLOW),
)

STATUS_MAP: tuple[KeyMap, ...] = (
    KeyMap("grid_connection", ("ECPConn",), _grid_connection, Cadence.SLOW),
)

CONTROLS_MAP: tuple[KeyMap, ...] = (
    KeyMap(
        "active_power_limit",
        ("WMaxLimPct",),
        _power_limit("WMaxLimPct", "WMaxLim_Ena"),
        Cadence.SLOW,
    ),
)

DER_CONTROLS_MAP: tuple[KeyMap, ...] = (
    KeyMap(
        "active_power_limit",
        ("WMaxLimPct",),
        _power_limit("WMaxLimPct", "WMaxLimPctEna"),
        Cadence.SLOW,
    ),
)

STORAGE_MAP: tuple[KeyMap, ...] = (
    _first("battery_soc", "ChaState"),
    _first("battery_voltage", "InBatV"),
)

MPPT_MODULE_MAP: tuple[KeyMap, ...] = (
    _first("pv_power", "DCW"),
    _first("pv_voltage", "DCV"),
    _first("pv_current", "DCA"),
    _first("pv_energy", "DCWH", cadence=Cadence.SLOW),
)


def _meter_map(power_sign: float) -> tuple[KeyMap, ...]:
    """Return the meter keys, with meter powers multiplied by ``power_sign``."""
    return (
        _first("grid_power", "W", sign=power_sign),
        *(_first(f"grid_power_l{n}", f"Wph{p}", sign=power_sign) for n, p in _PHASES),
        _first("grid_reactive_power", "VAR", sign=power_sign),
        _first("grid_apparent_power", "VA", magnitude=True),
        *(_first(f"ac_voltage_l{n}", f"PhVph{p}") for n, p in _PHASES),
        *(_first(f"ac_voltage_{n}", f"PPVph{p}") for n, p in _LINES),
        *(_first(f"ac_current_l{n}", f"Aph{p}", magnitude=True) for n, p in _PHASES),
        _first("frequency", "Hz"),
        KeyMap("grid_power_factor", ("PF",), _power_factor("PF")),
        *(
            KeyMap(f"ac_power_factor_l{n}", (f"PFph{p}",), _power_factor(f"PFph{p}"))
            for n, p in _PHASES
        ),
        _first("grid_import_energy", "TotWhImp", cadence=Cadence.SLOW),
        _first("grid_export_energy", "TotWhExp", cadence=Cadence.SLOW),
        *(
            _first(f"grid_import_energy_l{n}", f"TotWhImpPh{p}", cadence=Cadence.SLOW)
            for n, p in _PHASES
        ),
        *(
            _first(f"grid_export_energy_l{n}", f"TotWhExpPh{p}", cadence=Cadence.SLOW)
            for n, p in _PHASES
        ),
    )


METER_MAP = _meter_map(1.0)
EXPORT_POSITIVE_METER_MAP = _meter_map(-1.0)

# 802 counts discharge > 0 (see the module's docstring): negate A and W.
BATTERY_MAP: tuple[KeyMap, ...] = (
    _first("battery_soc", "SoC"),
    _first("battery_voltage", "V"),
    _first("battery_current", "A", sign=-1.0),
    _first("battery_power", "W", sign=-1.0),
    _first("cell_voltage_max", "CellVMax"),
    _first("cell_voltage_min", "CellVMin"),
    _first("battery_charge_current_limit", "AChaMax"),
    _first("battery_discharge_current_limit", "ADisChaMax"),
    _first("battery_soh", "SoH", cadence=Cadence.SLOW),
    _first("battery_cycles", "NCyc", cadence=Cadence.SLOW),
    _first("battery_capacity", "AHRtg", cadence=Cadence.SLOW),
)

# 804: one string of a lithium-ion bank, with 802's sign for its current.
BATTERY_STRING_MAP: tuple[KeyMap, ...] = (
    _first("battery_soc", "SoC"),
    _first("battery_voltage", "V"),
    _first("battery_current", "A", sign=-1.0),
    _first("cell_voltage_max", "CellVMax"),
    _first("cell_voltage_min", "CellVMin"),
    _first("battery_temperature", "ModTmpAvg", cadence=Cadence.SLOW),
    _first("battery_soh", "SoH", cadence=Cadence.SLOW),
    _first("battery_cycles", "NCyc", cadence=Cadence.SLOW),
)

BATTERY_BANK_MAP: tuple[KeyMap, ...] = (
    _first("battery_temperature", "ModTmpAvg", "ModTmpMax", cadence=Cadence.SLOW),
)

MAPS: Mapping[Role, tuple[KeyMap, ...]] = {
    Role.INVERTER: INVERTER_MAP,
    Role.NAMEPLATE: NAMEPLATE_MAP,
    Role.SETTINGS: SETTINGS_MAP,
    Role.STATUS: STATUS_MAP,
    Role.CONTROLS: CONTROLS_MAP,
    Role.DER_CONTROLS: DER_CONTROLS_MAP,
    Role.STORAGE: STORAGE_MAP,
    Role.MPPT: MPPT_MODULE_MAP,
    Role.METER: METER_MAP,
    Role.BATTERY: BATTERY_MAP,
    Role.BATTERY_BANK: BATTERY_BANK_MAP,
    Role.BATTERY_STRING: BATTERY_STRING_MAP,
}

# Every key the family can report on the device itself (a meter or a
# battery that is a device of its own reports its keys there too).
MAIN_KEYS: tuple[str, ...] = tuple(
    dict.fromkeys(
        key_map.key
        for role, maps in MAPS.items()
        if role not in (Role.MPPT, Role.BATTERY_STRING)
        for key_map in maps
    )
)


def key_maps(role: Role, *, export_positive_meter: bool = False) -> tuple[KeyMap, ...]:
    """Return the key maps of a role, with the meter sign the device uses."""
    if role is Role.METER and export_positive_meter:
        return EXPORT_POSITIVE_METER_MAP
    return MAPS.get(role, ())
