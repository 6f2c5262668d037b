"""The generic register-map driver: every map error named, and real reads."""

import copy
import json
from pathlib import Path
import struct
from typing import Any

from hypothesis import given, settings, strategies as st
from pymodbus.simulator import DataType as SimType, SimData, SimDevice
import pytest

from custom_components.energy_orchestrator.lib.drivers.cadence import Cadence
from custom_components.energy_orchestrator.lib.drivers.eastron import SDM630
from custom_components.energy_orchestrator.lib.drivers.errors import WrongDeviceError
from custom_components.energy_orchestrator.lib.drivers.generic import (
    GenericModbus,
    RegisterMapError,
    load_register_map,
    parse_register_map,
)
from custom_components.energy_orchestrator.lib.drivers.registers import (
    Point64,
    RegisterTable,
    WordOrder,
    make_point,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite

SDM630_MAP = Path(__file__).parents[2] / "fixtures" / "generic" / "sdm630_map.json"

GOOD: dict[str, Any] = {
    "manufacturer": "Acme",
    "model": "Box 3",
    "serial": {"address": 100, "table": "holding", "type": "string", "count": 4},
    "firmware": {"address": 110, "table": "holding", "type": "uint16"},
    "points": [
        {"key": "grid_power", "address": 0, "table": "holding", "type": "int16"},
        {
            "key": "grid_import_energy",
            "address": 2,
            "table": "holding",
            "type": "uint32",
            "word_order": "little",
            "scale": 10,
        },
        {
            "key": "battery_soc",
            "address": 4,
            "table": "holding",
            "type": "uint16",
            "scale": 0.1,
            "not_implemented": 65535,
        },
        {
            "key": "inverter_mode",
            "address": 5,
            "table": "holding",
            "type": "uint16",
            "options": {"0": "off", "1": "grid", "2": "fault"},
        },
        {"key": "pv_energy", "address": 6, "table": "holding", "type": "float64"},
        {"key": "mppt1/pv_power", "address": 10, "table": "holding", "type": "int32"},
        {
            "key": "battery_temperature",
            "address": 12,
            "table": "input",
            "type": "float32",
        },
    ],
}


def _with(change: dict[str, Any] | None = None, **point: Any) -> str:
    """Return the good map as JSON, changed at the top and in points[1]."""
    document = copy.deepcopy(GOOD)
    document.update(change or {})
    document["points"][1].update(point)
    for name, value in point.items():
        if value is None:
            del document["points"][1][name]
    return json.dumps(document)


def test_the_good_map_loads() -> None:
    register_map = parse_register_map(json.dumps(GOOD))
    assert [p.key for p in register_map.points][:2] == [
        "grid_power",
        "grid_import_energy",
    ]
    energy = register_map.points[1]
    assert energy.word_order is WordOrder.LITTLE
    assert energy.scale == 10
    # Energy counters default to the slow cadence, the rest to fast.
    assert energy.cadence is Cadence.SLOW
    assert register_map.points[0].cadence is Cadence.FAST
    assert isinstance(register_map.points[4], Point64)
    assert register_map.options["inverter_mode"] == {0: "off", 1: "grid", 2: "fault"}
    assert register_map.sub_devices == ("mppt1",)


def test_a_path_or_text_loads(tmp_path: Path) -> None:
    assert load_register_map(SDM630_MAP).model == "SDM630 (described by hand)"
    assert load_register_map(str(SDM630_MAP)).max_registers == 80
    assert load_register_map(SDM630_MAP.read_text()).manufacturer == "Eastron"
    with pytest.raises(ValueError, match="cannot read the register map"):
        load_register_map(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "the register map is not valid JSON: Expecting property name"),
        ("[1]", "the register map must be a JSON object"),
        (
            json.dumps({**GOOD, "pionts": []}),
            "unknown field 'pionts' .*; did you mean 'points'",
        ),
        (json.dumps({**GOOD, "model": " "}), "^model: a non-empty text is required$"),
        (
            json.dumps({k: v for k, v in GOOD.items() if k != "serial"}),
            "^serial: give the serial number as text, or the register",
        ),
        (json.dumps({**GOOD, "serial": 42}), "^serial: must be text or a register"),
        (json.dumps({**GOOD, "serial": ""}), "^serial: must not be empty$"),
        (
            json.dumps(
                {**GOOD, "serial": {"address": 1, "table": "holding", "type": "string"}}
            ),
            r"^serial.count: a string needs a count of registers from 1 to 125",
        ),
        (
            json.dumps(
                {**GOOD, "firmware": {"address": 1, "table": "coil", "type": "uint16"}}
            ),
            "^firmware.table: must be one of holding, input, not 'coil'$",
        ),
        (
            json.dumps(
                {**GOOD, "serial": {"address": 1, "table": "input", "type": "int8"}}
            ),
            "^serial.type: must be one of int16, uint16",
        ),
        (
            json.dumps(
                {**GOOD, "serial": {"adress": 1, "table": "input", "type": "uint32"}}
            ),
            "^serial: unknown field 'adress'",
        ),
        (
            json.dumps(
                {
                    **GOOD,
                    "serial": {"address": 70000, "table": "input", "type": "uint32"},
                }
            ),
            "^serial.address: must be a whole number from 0 to 65535, not 70000$",
        ),
        (json.dumps({**GOOD, "max_registers": 200}), "^max_registers: must be a whole"),
        (json.dumps({**GOOD, "points": []}), "^points: a non-empty list of points"),
        (
            json.dumps({**GOOD, "points": [3]}),
            r"^points\[0\]: a point must be an object$",
        ),
        (
            _with(adress=3),
            r"^points\[1\]: unknown field 'adress' .*did you mean 'address'",
        ),
        (_with(key=None), r"^points\[1\].key: a canonical key is required$"),
        (
            _with(key="grid_import_enrgy"),
            r"^points\[1\].key: 'grid_import_enrgy' is not a canonical key;"
            r" did you mean 'grid_import_energy'\?$",
        ),
        (_with(key="/pv_power"), r"^points\[1\].key: '/pv_power' names no sub-device"),
        (
            _with(key="grid_power"),
            r"^points\[1\].key: grid_power is already points\[0\]$",
        ),
        (_with(table="coils"), r"^points\[1\].table: must be one of holding, input"),
        (
            _with(type="int8"),
            r"^points\[1\].type: must be one of int16, uint16, int32, uint32,"
            r" float32, int64, uint64, float64, not 'int8'$",
        ),
        (_with(address=-1), r"^points\[1\].address: must be a whole number from 0"),
        (_with(address="2"), r"^points\[1\].address: must be a whole number"),
        (_with(address=65535), r"^points\[1\].address: registers 65535-65536 run past"),
        (
            _with(address=0),
            r"^points\[1\].address: registers 0-1 \(holding\) overlap points\[0\]"
            r" \(grid_power, holding 0-0\)$",
        ),
        (_with(word_order="middle"), r"^points\[1\].word_order: must be one of big"),
        (_with(scale=0), r"^points\[1\].scale: must be a finite number other than 0"),
        (_with(scale="10"), r"^points\[1\].scale: must be a finite number"),
        (_with(cadence="hourly"), r"^points\[1\].cadence: must be one of fast, slow"),
        (
            _with(not_implemented=-1),
            r"^points\[1\].not_implemented: must be the raw register value as a"
            r" whole number from 0 to 4294967295",
        ),
        (
            _with(options={"0": "off"}),
            r"^points\[1\].options: grid_import_energy is a number, not an"
            r" enumeration$",
        ),
        (
            _with(key="charger_status", cadence=None, scale=None, word_order=None),
            r"^points\[1\].options: charger_status is an enumeration; map raw"
            r" values to its options \(disconnected, connected",
        ),
        (
            _with(key="charger_status", options={"x": "charging"}),
            r"^points\[1\].options: 'x' is not a whole number$",
        ),
        (
            _with(key="charger_status", options={"3": "turbo"}),
            r"^points\[1\].options: 3 maps to 'turbo', which is not one of"
            r" charger_status's options",
        ),
    ],
)
def test_a_bad_map_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(RegisterMapError, match=message):
        load_register_map(text)


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_text_loads_or_says_why(text: str) -> None:
    try:
        parse_register_map(text)
    except RegisterMapError as err:
        message = str(err)
    else:
        message = "loaded"
    assert message


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**16, 2**64, 10**400, -(10**400)])
    | st.floats()
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = st.sampled_from(
    [
        "key",
        "address",
        "table",
        "type",
        "word_order",
        "scale",
        "cadence",
        "not_implemented",
        "options",
    ]
)


@given(index=st.integers(0, 6), name=FIELDS, value=JSON_VALUES)
@settings(max_examples=300, deadline=None)
def test_any_field_value_loads_or_says_why(index: int, name: str, value: Any) -> None:
    """Whatever a user puts in a field, the loader names it or takes it."""
    document = copy.deepcopy(GOOD)
    document["points"][index][name] = value
    try:
        loaded = len(parse_register_map(json.dumps(document)).points)
    except RegisterMapError as err:
        loaded = 0 if str(err).startswith("points[") else -1
    assert loaded in {0, 7}


@pytest.mark.parametrize(
    ("type_name", "value", "word_order"),
    [
        ("float64", -12345.678, WordOrder.BIG),
        ("float64", 3.5e9, WordOrder.LITTLE),
        ("int64", -(2**40), WordOrder.BIG),
        ("int64", 2**50, WordOrder.LITTLE),
    ],
)
def test_64_bit_points_round_trip(
    type_name: str, value: float, word_order: WordOrder
) -> None:
    point = make_point(
        "pv_energy", RegisterTable.HOLDING, 0, type_name, word_order=word_order
    )
    words = point.encode(value)
    assert len(words) == 4 == point.count
    assert point.decode(words) == value
    nan = make_point("pv_energy", RegisterTable.HOLDING, 0, "float64")
    assert nan.decode([0x7FF8, 0, 0, 0]) is None


def _device_registers() -> dict[int, int]:
    """Return the holding registers of a device the good map describes."""
    registers: dict[int, int] = {0: (-1500) & 0xFFFF}
    energy = 123456  # raw, scale 10 -> 1234560 Wh, little word order
    registers[2], registers[3] = energy & 0xFFFF, energy >> 16
    registers[4] = 0xFFFF  # SOC "not implemented"
    registers[5] = 2  # fault
    for index, word in enumerate(struct.unpack(">4H", struct.pack(">d", 5.25e6))):
        registers[6 + index] = word
    registers[10], registers[11] = 0, 800
    for index, word in enumerate(struct.unpack(">4H", b"AB12\0\0\0\0")):
        registers[100 + index] = word
    registers[110] = 207
    return registers


def _device(unit: int, registers: dict[int, int]) -> SimDevice:
    holding = [
        SimData(address, values=value, datatype=SimType.UINT16)
        for address, value in sorted(registers.items())
    ]
    inputs = [SimData(12, values=[0x41C8, 0], datatype=SimType.UINT16)]  # 25.0
    bits = [SimData(0, values=0, datatype=SimType.BITS)]
    return SimDevice(id=unit, simdata=(bits, list(bits), holding, inputs))


async def test_reads_a_device_by_the_map() -> None:
    register_map = parse_register_map(json.dumps(GOOD))
    async with serve_devices(
        "127.0.0.1", 0, {7: _device(7, _device_registers())}
    ) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        driver = GenericModbus(link, 7, register_map)
        identity = await driver.async_identify()
        assert (identity.manufacturer, identity.model) == ("Acme", "Box 3")
        assert (identity.serial_number, identity.firmware) == ("AB12", "207")
        assert [s.key for s in driver.sub_devices] == ["mppt1"]
        readings = await driver.async_read()
        values = {key: reading.value for key, reading in readings.items()}
        assert values == {
            "grid_power": -1500.0,
            "grid_import_energy": 1234560.0,
            "inverter_mode": "fault",
            "pv_energy": 5.25e6,
            "mppt1/pv_power": 800.0,
            "battery_temperature": 25.0,
        }
        assert "battery_soc" in driver.available_keys()
        await link.close()


async def test_an_unnamed_raw_state_is_unknown() -> None:
    registers = _device_registers() | {5: 9}
    register_map = parse_register_map(json.dumps(GOOD))
    async with serve_devices("127.0.0.1", 0, {7: _device(7, registers)}) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        driver = GenericModbus(link, 7, register_map)
        readings = await driver.async_read()
        assert readings["inverter_mode"].value == "unknown"
        await link.close()


async def test_a_map_of_an_sdm630_reads_like_the_sdm630_driver(
    site: SimulatedSite,
) -> None:
    link = ModbusLink.standalone(parse_endpoint(site.url), timeout=0.5)
    generic = GenericModbus(link, 1, load_register_map(SDM630_MAP))
    identity = await generic.async_identify()
    assert (
        identity.serial_number == (await SDM630(link, 1).async_identify()).serial_number
    )
    readings = await generic.async_read()
    truth = site.site.grid_meter_values()
    assert len(readings) == 11
    for key, reading in readings.items():
        assert reading.value == pytest.approx(truth[key], rel=0.02, abs=5.0), key
    # The map may merge across Eastron's gap at 0x50-0x53; the planner learns.
    assert generic.planner.holes == set()
    await link.close()


async def test_a_device_without_the_maps_registers_is_refused(
    site: SimulatedSite,
) -> None:
    link = ModbusLink.standalone(parse_endpoint(site.url), timeout=0.5)
    document = copy.deepcopy(GOOD) | {"serial": "given-serial", "firmware": None}
    for point in document["points"]:
        point["address"] += 5000
    driver = GenericModbus(link, 1, parse_register_map(json.dumps(document)))
    with pytest.raises(WrongDeviceError, match="answers none of the map's registers"):
        await driver.async_identify()
    driver = GenericModbus(link, 1, parse_register_map(json.dumps(GOOD)))
    with pytest.raises(WrongDeviceError, match="no serial number register at 100"):
        await driver.async_identify()
    await link.close()
