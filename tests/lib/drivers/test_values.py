"""Readings carry what a device measures: rounded to resolution, no float noise."""

import math
import struct

from hypothesis import given, strategies as st

from custom_components.energy_orchestrator.lib.drivers.registers import (
    DataType,
    Point,
    RegisterTable,
)
from custom_components.energy_orchestrator.lib.drivers.values import (
    QUANTITIES,
    make_reading,
)

INPUT = RegisterTable.INPUT


def _float32_words(value: float) -> list[int]:
    """Return the two registers a float32 meter answers for a value."""
    return list(struct.unpack(">HH", struct.pack(">f", value)))


def _read(key: str, value: float) -> float | str:
    """Return the value of the reading a driver makes of a decoded value."""
    reading = make_reading(key, value, 0.0)
    assert reading is not None
    return reading.value


def test_a_tiny_negative_power_is_zero_not_minus_zero() -> None:
    """The sum of three phases gave -4.09e-12 W; the Energy dashboard drew it."""
    for key, noise in (("grid_power", -4.09e-12), ("grid_power_factor", -4.4e-15)):
        value = _read(key, noise)
        assert value == 0
        assert isinstance(value, float)
        assert math.copysign(1.0, value) == 1.0, key


def test_float32_registers_read_to_the_quantity_s_resolution() -> None:
    """What the snapshots showed of float32 registers, and what is read now."""
    seen = {
        "ac_voltage_l1": (232.451904296875, 232.5),
        "charger_power": (4094.86840820312, 4094.9),
        "ac_current_l1": (3.12669507942658, 3.127),
        "grid_power_factor": (0.970000028610229, 0.97),
        "frequency": (49.9755325317383, 49.98),
    }
    for key, (on_the_wire, shown) in seen.items():
        point = Point(key, INPUT, 0, DataType.FLOAT32)
        decoded = point.decode(_float32_words(on_the_wire))
        assert decoded is not None
        assert _read(key, decoded) == shown, key


def test_an_eastron_kwh_counter_reads_to_the_watt_hour() -> None:
    """2160.50366 kWh as a float32, scaled to Wh, is a whole Wh count."""
    point = Point("grid_import_energy", INPUT, 0, DataType.FLOAT32, scale=1000)
    decoded = point.decode(_float32_words(2160.50366210938))
    assert decoded is not None
    value = _read("grid_import_energy", decoded)
    assert value == 2160504
    assert isinstance(value, int)


def test_a_decimal_scale_gives_the_decimal() -> None:
    """2301 x 0.1 is 230.10000000000002 in floats; the register says 230.1."""
    point = Point("ac_voltage_l1", INPUT, 0, DataType.UINT16, scale=0.1)
    assert repr(point.decode([2301])) == "230.1"
    hundredths = Point("frequency", INPUT, 0, DataType.UINT16, scale=0.01)
    assert repr(hundredths.decode([4998])) == "49.98"


def test_cells_keep_their_millivolts() -> None:
    """3.195 V and 3.191 V: the imbalance a user looks for, not 3.2 and 3.2."""
    highest = _read("cell_voltage_max", 3.1950000286102295)
    lowest = _read("cell_voltage_min", 3.1909999847412109)
    assert (highest, lowest) == (3.195, 3.191)


def test_counts_are_whole_numbers() -> None:
    for key, raw in (("battery_cycles", 100.0), ("charger_phases", 3.0)):
        value = _read(key, raw)
        assert value == raw
        assert isinstance(value, int), key


@given(
    key=st.sampled_from(sorted(k for k, q in QUANTITIES.items() if q.options is None)),
    value=st.floats(-2e6, 2e6, allow_nan=False),
)
def test_every_reading_is_at_its_resolution_and_never_minus_zero(
    key: str, value: float
) -> None:
    reading = make_reading(key, value, 0.0)
    if reading is None:
        return
    assert isinstance(reading.value, int | float)
    decimals = QUANTITIES[key].decimals
    assert abs(reading.value - value) <= 0.5 * 10**-decimals + 1e-9 * abs(value)
    assert round(reading.value, decimals) == reading.value
    assert math.copysign(1.0, reading.value) == 1.0 or reading.value < 0
