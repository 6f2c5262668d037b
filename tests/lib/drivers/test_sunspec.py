"""The SunSpec driver against real register images and the emulator.

Every device here is served by pymodbus' server over a real socket: a real
SMA Sunny Boy 3.6 dump, pysunspec's three-phase test inverter, hand-built
images for the corner cases, and the simulated hybrid inverter following a
``Site``.
"""

from collections.abc import AsyncIterator, Mapping, Sequence
import contextlib
from datetime import UTC, datetime
import math
from pathlib import Path
import struct
import xml.etree.ElementTree as ET

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.base import execute
from custom_components.energy_orchestrator.lib.drivers.cadence import (
    ALL_CADENCES,
    Cadence,
)
from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
    CommandRejectedError,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceRejectedError,
    DeviceSilentError,
    IllegalAddressError,
    WrongDeviceError,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec import SunSpecDriver
from custom_components.energy_orchestrator.lib.drivers.sunspec.codec import (
    decode_model,
    decode_point,
    encode_model,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec.definitions import (
    PointDef,
    known_models,
    model_definition,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from eo_lab.sim.devices.sunspec import (
    SunSpecInverterEmulator,
    parse_register_dump,
    register_image_device,
)
from eo_lab.sim.profiles import bundled_profile
from eo_lab.sim.servers import serve_devices, silent_device
from eo_lab.sim.simulated_site import default_battery
from eo_lab.sim.site import Site

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sunspec"
SMA_DUMP = FIXTURES / "nielsbasjes_SMA_SunnyBoy3.6_2023-08-10_holding40000.txt"
PYSUNSPEC_INVERTER = FIXTURES / "pysunspec1_mbmap_test_inverter_1.xml"
SUNS = [0x5375, 0x6E53]
END = [0xFFFF, 0]
NOON = datetime(2025, 6, 1, 12, tzinfo=UTC).timestamp()


def _link(port: int, timeout: float = 3.0) -> ModbusLink:
    return ModbusLink.standalone(
        parse_endpoint(f"tcp://127.0.0.1:{port}"), timeout=timeout
    )


@contextlib.asynccontextmanager
async def _serving(
    words: Sequence[int | None], *, base: int = 40000
) -> AsyncIterator[ModbusLink]:
    """Serve a register image at ``base`` and yield a link to it."""
    device = register_image_device(1, base, words)
    async with serve_devices("127.0.0.1", 0, {1: device}) as server:
        link = _link(server.port)
        try:
            yield link
        finally:
            await link.close()


def _model(model_id: int, data: Mapping[str, object]) -> list[int]:
    definition = model_definition(model_id)
    assert definition is not None
    return encode_model(definition, data)


def _common(serial: str = "SN-1", manufacturer: str = "Acme") -> list[int]:
    return _model(1, {"Mn": manufacturer, "Md": "Model X", "Vr": "9.9", "SN": serial})


def _site(**kwargs: float) -> Site:
    """Return a site at noon in June: PV, a charging battery."""
    site = Site(
        bundled_profile(),
        default_battery(),
        start_time=NOON,
        initial_import_wh=4_000_000.0,
        initial_export_wh=1_000_000.0,
        **kwargs,  # type: ignore[arg-type]
    )
    site.advance_to(NOON + 120)
    return site


# The real SMA Sunny Boy 3.6


SMA_MODELS = [1, 11, 12, 101, 120, 121, 122, 123, 124, 126, 127, 128, 131, 132]
SMA_MODELS += [160, 129, 130]


async def test_sma_dump_chain_identity_and_sub_devices() -> None:
    words = parse_register_dump(SMA_DUMP.read_text())
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        identity = await driver.async_identify()
    assert identity.manufacturer == "SMA"
    assert identity.model == "SB3.6-1AV-41"
    assert identity.serial_number == "3005067415"
    assert identity.firmware == "4.00.75.R"
    assert driver.base_address == 40000
    assert [block.model_id for block in driver.chain] == SMA_MODELS
    # 160 lists six modules; only the first two measure anything.
    assert [sub.key for sub in driver.sub_devices] == ["mppt1", "mppt2"]
    # 123 has WMaxLimPct with WMaxLimPct_SF = 0xFFFE (-2); 124's WChaMax is
    # 0xFFFF: a limit, but no battery commands.
    spec = driver.commands[CommandKind.ACTIVE_POWER_LIMIT]
    assert (spec.minimum, spec.maximum, spec.step) == (0.0, 100.0, 0.01)
    assert set(driver.commands) == {CommandKind.ACTIVE_POWER_LIMIT}


async def test_sma_dump_decodes_to_the_numbers_in_its_words() -> None:
    """Every number below is worked out by hand from the dump's words.

    Model 101 (single phase): A 0x002D, AphA 0x002D, A_SF 0xFFFF (-1):
    4.5 A. PhVphA 0x0958 = 2392, V_SF -1: 239.2 V. W 0x006C = 108, W_SF +1:
    1080 W. Hz 0x1386 = 4998, Hz_SF -2: 49.98 Hz. VA 0x006D, VA_SF +1:
    1090 VA. VAr 0x000A, VAr_SF +1: 100 var. WH 0x0021 0x1FAD = 2170797,
    WH_SF +1: 21707970 Wh. DCA/DCV 0xFFFF, DCW 0x8000: absent. TmpCab
    0x002A = 42, TmpSnk 0x8000, Tmp_SF 0: 42 °C. St 4: MPPT.
    Model 160: DCA_SF -1, DCV_SF 0, DCW_SF +1, DCWH_SF 0x8000. Module 1:
    DCA 0x15 = 2.1 A, DCV 0x142 = 322 V, DCW 0x43 = 670 W; module 2: 2.1 A,
    0xE0 = 224 V, 0x30 = 480 W; DCWH 0 (an accumulator that never counted).
    PF 0xFC1C = -996, PF_SF 0xFFFD (-3): -0.996 (SMA gives the ratio, though
    the model labels it "Pct").
    Model 121: WMax 0x0170 = 368, WMax_SF +1: 3680 W.
    Model 122: ECPConn 1: connected to the grid (PVConn 5, StorConn 0).
    Model 123: WMaxLimPct 0, WMaxLim_Ena 1: the inverter says "0 %" while
    producing; that is what it answers, so that is what is shown.
    """
    words = parse_register_dump(SMA_DUMP.read_text())
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        before = link.stats.requests
        fast = await driver.async_poll({Cadence.FAST})
        # 101 in one request; 160 is 130 registers: two.
        assert link.stats.requests - before == 3
        slow = await driver.async_poll({Cadence.SLOW})
    values = {key: reading.value for key, reading in fast.readings.items()}
    assert values == {
        "ac_power": 1080.0,
        "ac_energy": 21707970.0,
        "ac_current_l1": 4.5,
        "ac_voltage_l1": 239.2,
        "frequency": 49.98,
        "ac_apparent_power": 1090.0,
        "ac_reactive_power": 100.0,
        "ac_power_factor": -0.996,
        "inverter_temperature": 42.0,
        "inverter_mode": "grid",
        "mppt1/pv_power": 670.0,
        "mppt1/pv_voltage": 322.0,
        "mppt1/pv_current": 2.1,
        "mppt2/pv_power": 480.0,
        "mppt2/pv_voltage": 224.0,
        "mppt2/pv_current": 2.1,
        # DCW of 101 is not implemented: the sum of the MPPTs.
        "pv_power": 1150.0,
    }
    assert fast.failed == {}
    assert "active_power_limit" not in fast.attempted
    slow_values = {k: r.value for k, r in slow.readings.items()}
    assert slow_values == {
        "active_power_limit": 0.0,
        "inverter_max_power": 3680.0,
        "grid_connection": "connected",
    }
    # Optional points the inverter does not implement make no keys.
    assert driver.available_keys() == set(values) | set(slow_values)
    assert str(fast.readings["ac_energy"].unit) == "Wh"


async def test_identify_again_keeps_what_was_learned() -> None:
    """The coordinator re-reads the identity after reconnects: two
    requests, and the sub-devices stay what they were."""
    words = parse_register_dump(SMA_DUMP.read_text())
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        first = await driver.async_identify()
        subs, keys = list(driver.sub_devices), driver.available_keys()
        before = link.stats.requests
        assert await driver.async_identify() == first
        assert link.stats.requests - before == 2  # the marker, model 1
        assert driver.sub_devices == subs
        assert driver.available_keys() == keys


async def test_identify_again_finds_another_device() -> None:
    emulator = SunSpecInverterEmulator(_site())
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        await link.close()
    other = [*SUNS, *_common(serial="OTHER-1"), *_model(101, {"St": 2}), *END]
    async with _serving(other) as link:
        driver.link = link
        identity = await driver.async_identify()
    assert identity.serial_number == "OTHER-1"
    assert driver.sub_devices == []
    assert [block.model_id for block in driver.chain] == [1, 101]


def _pysunspec_registers() -> list[int | None]:
    """Return the registers of a pysunspec (v1) typed register map."""
    formats = {"u16": ">H", "s16": ">h", "u32": ">I", "s32": ">i", "f32": ">f"}
    words: list[int | None] = []
    for regs in ET.parse(PYSUNSPEC_INVERTER).getroot():
        kind, text = regs.get("type"), (regs.text or "").strip()
        if kind == "string":
            raw = text.encode().ljust(2 * int(regs.get("len", "1")), b"\x00")
        else:
            number: float = float(text) if kind == "f32" else int(text, 0)
            raw = struct.pack(formats[str(kind)], number)
        words.extend(
            int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)
        )
    return words


async def test_pysunspec_three_phase_inverter() -> None:
    async with _serving(_pysunspec_registers()) as link:
        driver = SunSpecDriver(link, 1)
        identity = await driver.async_identify()
        readings = await driver.async_read()
    assert (identity.manufacturer, identity.model) == ("SunSpecTest", "TestInverter-1")
    assert (identity.serial_number, identity.firmware) == ("sn-123456789", "1.2.3")
    assert [block.model_id for block in driver.chain] == [1, 103]
    assert driver.sub_devices == []
    assert driver.commands == {}
    assert {key: reading.value for key, reading in readings.items()} == {
        "ac_current_l1": 4.1,
        "ac_current_l2": 4.2,
        "ac_current_l3": 4.3,
        "ac_voltage_l1": 240.1,
        "ac_voltage_l2": 240.2,
        "ac_voltage_l3": 240.3,
        "ac_power": 2970.0,
        "frequency": 59.99,
        "ac_apparent_power": 2978.0,
        "ac_reactive_power": 0.1,
        "ac_energy": 1234567.0,
        "pv_current": 10.0,
        "pv_voltage": 300.1,
        "pv_power": 3001.0,
        # The heat sink first, the cabinet (40.1) if it has none.
        "inverter_temperature": 40.2,
        "inverter_mode": "off",
        # PF 995 with PF_SF -3.
        "ac_power_factor": 0.995,
    }


# The map and the chain


@pytest.mark.parametrize("base", [0, 50000])
async def test_base_address_fallback(base: int) -> None:
    emulator = SunSpecInverterEmulator(_site(), base_address=base)
    async with serve_devices("127.0.0.1", 0, {3: emulator.sim_device(3)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 3)
        identity = await driver.async_identify()
        await link.close()
    assert driver.base_address == base
    assert identity.serial_number == emulator.serial_number
    assert [block.model_id for block in driver.chain] == emulator.model_ids()


async def test_chain_skips_unknown_models_and_ends_without_marker() -> None:
    """A vendor model is stepped over by its length; a map that ends without
    0xFFFF ends where the device answers "illegal data address"."""
    words: list[int | None] = [
        *SUNS,
        *_common(),
        64999,
        3,
        1,
        2,
        3,
        *_model(101, {"W": 500.0, "W_SF": 0, "St": 2}),
    ]
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
    assert [block.model_id for block in driver.chain] == [1, 64999, 101]
    assert readings["ac_power"].value == 500.0
    assert readings["inverter_mode"].value == "sleeping"


async def test_no_suns_marker_is_not_sunspec() -> None:
    async with _serving([0x1234] * 70) as link:
        with pytest.raises(WrongDeviceError, match="SunS"):
            await SunSpecDriver(link, 1).async_identify()


async def test_map_without_common_model_is_not_sunspec() -> None:
    async with _serving([*SUNS, *_model(101, {}), *END]) as link:
        with pytest.raises(WrongDeviceError, match="common model"):
            await SunSpecDriver(link, 1).async_identify()


async def test_silent_unit_is_silent_not_wrong() -> None:
    async with serve_devices("127.0.0.1", 0, {1: silent_device(1)}) as server:
        link = _link(server.port, timeout=0.2)
        with pytest.raises(DeviceSilentError):
            await SunSpecDriver(link, 1).async_identify()
        await link.close()


async def test_meter_on_its_own_is_the_device() -> None:
    """A SunSpec meter without an inverter (Fronius' smart meter on unit
    200) reports its values as the device's own, not as a sub-device."""
    meter = {"W": -1234.0, "W_SF": 0, "TotWhImp": 5e6, "TotWhExp": 2e6}
    words = [*SUNS, *_common(), *_model(203, meter | {"TotWh_SF": 0}), *END]
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
    assert driver.sub_devices == []
    assert readings["grid_power"].value == -1234.0  # exporting
    assert readings["grid_import_energy"].value == 5e6
    assert readings["grid_export_energy"].value == 2e6


async def test_battery_on_its_own_with_its_bank() -> None:
    """802 counts discharge > 0; the value model charging > 0. The bank
    model 803 adds its module temperature to the battery it follows."""
    battery = {
        "SoC": 63.5,
        "SoC_SF": -1,
        "V": 51.2,
        "V_SF": -1,
        "A": -29.3,
        "A_SF": -1,
        "W": -1500.0,
        "W_SF": 0,
        "CellVMax": 3.21,
        "CellVMin": 3.19,
        "CellV_SF": -2,
    }
    bank = {"NStr": 0, "ModTmpMax": 27, "ModTmpAvg": 25, "ModTmp_SF": 0}
    words = [*SUNS, *_common(), *_model(802, battery), *_model(803, bank), *END]
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
    assert driver.sub_devices == []
    assert {key: reading.value for key, reading in readings.items()} == {
        "battery_soc": 63.5,
        "battery_voltage": 51.2,
        "battery_current": 29.3,
        "battery_power": 1500.0,
        "cell_voltage_max": 3.21,
        "cell_voltage_min": 3.19,
        "battery_temperature": 25.0,
    }


async def test_pv_only_inverter_has_no_battery() -> None:
    site = _site()
    emulator = SunSpecInverterEmulator(site, storage=False, battery=False)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
        await link.close()
    assert set(driver.commands) == {CommandKind.ACTIVE_POWER_LIMIT}
    assert not any("battery_soc" in key for key in driver.available_keys())
    assert readings["ac_power"].value == pytest.approx(site.pv_w, abs=0.5)


async def test_der_controls_704_set_the_limit_with_a_revert_timer() -> None:
    der = {
        "WMaxLimPctEna": 0,
        "WMaxLimPct": 100.0,
        "WMaxLimPctRvrt": 100.0,
        "WMaxLimPctEnaRvrt": 0,
        "WMaxLimPctRvrtTms": 0,
        "WMaxLimPct_SF": 0,
    }
    inverter = _model(103, {"W": 900.0, "W_SF": 0, "St": 4})
    legacy = _model(123, {"WMaxLimPct": 100.0, "WMaxLim_Ena": 0, "WMaxLimPct_SF": 0})
    words = [*SUNS, *_common(), *inverter, *legacy, *_model(704, der), *END]
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1, revert_timeout_s=86400)
        await driver.async_identify()
        assert driver.commands[CommandKind.ACTIVE_POWER_LIMIT].step == 1.0
        assert (
            await execute(driver, Command(CommandKind.ACTIVE_POWER_LIMIT, 40.0)) == 40.0
        )
        readings = await driver.async_read()
        block = next(b for b in driver.chain if b.model_id == 704)
        values = await driver.read_model(block)
    assert readings["active_power_limit"].value == 40.0
    assert values.get("WMaxLimPctEna") == 1
    assert values.get("WMaxLimPctRvrtTms") == 86400  # uint32 here
    assert values.get("WMaxLimPctEnaRvrt") == 0


# Not implemented is absent


def test_model_definitions_are_the_official_ones() -> None:
    assert {1, 101, 103, 113, 123, 124, 160, 203, 704, 802} <= known_models()
    inverter = model_definition(103)
    assert inverter is model_definition(103)  # parsed once
    assert inverter is not None
    watts = inverter.group.point("W")
    # W is register 40084 of a map whose model 103 follows model 1 at 40000.
    assert watts is not None
    assert (watts.offset, watts.type, watts.sf) == (14, "int16", "W_SF")
    assert model_definition(63999) is None


@pytest.mark.parametrize(
    ("point_type", "size", "words", "expected"),
    [
        ("int16", 1, [0x8000], None),
        ("int16", 1, [0xFFFF], -1),
        ("uint16", 1, [0xFFFF], None),
        ("uint16", 1, [0], 0),
        ("enum16", 1, [0xFFFF], None),
        ("bitfield16", 1, [0xFFFF], None),
        ("count", 1, [0xFFFF], None),
        ("sunssf", 1, [0x8000], None),
        ("sunssf", 1, [0xFFFE], -2),
        ("sunssf", 1, [0x0020], None),  # 10**32 is no scale factor
        ("acc16", 1, [0], None),
        ("int32", 2, [0x8000, 0], None),
        ("int32", 2, [0xFFFF, 0xFFFE], -2),
        ("uint32", 2, [0xFFFF, 0xFFFF], None),
        ("acc32", 2, [0, 0], None),
        ("acc32", 2, [0, 1], 1),
        ("bitfield32", 2, [0xFFFF, 0xFFFF], None),
        ("bitfield32", 2, [0, 0], 0),
        ("enum32", 2, [0xFFFF, 0xFFFF], None),
        ("acc64", 4, [0, 0, 0, 0], None),
        ("uint64", 4, [0xFFFF] * 4, None),
        ("int64", 4, [0x8000, 0, 0, 0], None),
        ("float32", 2, [0x7FC0, 0], None),  # NaN
        ("float32", 2, [0x7F80, 0], None),  # infinity
        ("float32", 2, [0x4348, 0], 200.0),
        ("string", 2, [0, 0], None),
        ("string", 2, [0xFFFF, 0xFFFF], None),
        ("string", 2, [0x4142, 0], "AB"),
        ("pad", 1, [0x8000], None),
    ],
)
def test_not_implemented_values_are_absent(
    point_type: str, size: int, words: list[int], expected: object
) -> None:
    point = PointDef("P", point_type, size, 0)
    assert decode_point(point, words) == expected


async def test_not_implemented_points_and_scale_factors_are_absent() -> None:
    words: list[int | None] = [
        *SUNS,
        *_common(),
        # Hz with its scale factor not implemented, WH an empty accumulator,
        # the voltages 0xFFFF.
        *_model(103, {"W": 2000.0, "W_SF": 0, "Hz": 50.0, "St": 4}),
        *END,
    ]
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
    assert set(readings) == {"ac_power", "inverter_mode"}
    assert readings["ac_power"].value == 2000.0
    # Mandatory points are keys even when absent now: a sleeping inverter
    # keeps its entities, unavailable until it wakes. Optional ones are not.
    assert {"ac_energy", "ac_voltage_l1", "frequency"} <= driver.available_keys()
    assert "ac_voltage_l1_l2" not in driver.available_keys()


async def test_float_model_nan_is_absent() -> None:
    words: list[int | None] = [
        *SUNS,
        *_common(),
        *_model(113, {"W": 1500.0, "Hz": 49.9, "PhVphA": math.nan, "St": 5}),
        *END,
    ]
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
    assert {key: reading.value for key, reading in readings.items()} == {
        "ac_power": 1500.0,
        "frequency": pytest.approx(49.9, abs=1e-5),  # float32
        "inverter_mode": "throttled",
    }


@settings(max_examples=60, deadline=None)
@given(
    model_id=st.sampled_from(sorted(known_models())),
    words=st.lists(st.integers(0, 0xFFFF), max_size=140),
)
def test_decoding_garbage_never_crashes_nor_gives_non_finite(
    model_id: int, words: Sequence[int]
) -> None:
    definition = model_definition(model_id)
    assert definition is not None
    values = decode_model(definition, words)
    stack = [values]
    while stack:
        group = stack.pop()
        for value in group.values.values():
            assert value is None or isinstance(value, str) or math.isfinite(value)
        for instances in group.groups.values():
            stack.extend(instances)


# The emulator and the Site


async def test_emulator_follows_the_site() -> None:
    site = _site()
    emulator = SunSpecInverterEmulator(site, meter=True)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        identity = await driver.async_identify()
        poll = await driver.async_poll(ALL_CADENCES)
        await link.close()
    assert identity.serial_number == emulator.serial_number
    assert [block.model_id for block in driver.chain] == emulator.model_ids()
    assert emulator.model_ids() == [1, 103, 120, 121, 122, 123, 124, 160, 802, 203]
    assert [sub.key for sub in driver.sub_devices] == [
        "mppt1",
        "mppt2",
        "battery1",
        "meter1",
    ]
    values = {key: reading.value for key, reading in poll.readings.items()}
    battery = site.battery
    assert site.pv_w > 100
    assert site.battery_power_w > 10  # charging from the PV surplus
    # Registers hold whole watts (W_SF 0) and tenths of a percent.
    assert values["pv_power"] == pytest.approx(site.pv_w, abs=0.5)
    assert values["mppt1/pv_power"] == pytest.approx(0.6 * site.pv_w, abs=0.5)
    assert values["mppt2/pv_power"] == pytest.approx(0.4 * site.pv_w, abs=0.5)
    assert values["ac_power"] == pytest.approx(
        site.pv_w - site.battery_power_w, abs=0.5
    )
    assert values["battery_soc"] == pytest.approx(100 * battery.soc, abs=0.05)
    assert values["battery1/battery_soc"] == pytest.approx(100 * battery.soc, abs=0.05)
    # 802 counts discharge > 0; the value model charging > 0.
    assert values["battery1/battery_power"] == pytest.approx(
        site.battery_power_w, abs=0.5
    )
    assert values["battery1/battery_current"] == pytest.approx(
        battery.current, abs=0.05
    )
    assert values["battery1/battery_voltage"] == pytest.approx(
        battery.terminal_voltage, abs=0.05
    )
    assert values["meter1/grid_power"] == pytest.approx(site.grid_power_w, abs=0.5)
    assert values["meter1/grid_import_energy"] == pytest.approx(
        site.grid_import_energy_wh, abs=0.5
    )
    assert values["frequency"] == pytest.approx(site.frequency(), abs=0.005)
    assert values["inverter_mode"] == "grid"
    assert values["active_power_limit"] == 100.0
    assert values["battery_capacity"] == battery.capacity_ah
    assert poll.failed == {}


async def test_solaredge_meters_count_export_positive() -> None:
    site = _site()
    emulator = SunSpecInverterEmulator(
        site, meter=True, manufacturer="SolarEdge", meter_export_positive=True
    )
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
        await link.close()
    assert driver.export_positive_meters
    assert readings["meter1/grid_power"].value == pytest.approx(
        site.grid_power_w, abs=0.5
    )


async def test_failing_sub_device_goes_to_failed_others_stay() -> None:
    emulator = SunSpecInverterEmulator(_site(), meter=True)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        emulator.failing_models.add(203)
        poll = await driver.async_poll({Cadence.FAST})
        assert set(poll.failed) == {"meter1"}
        assert isinstance(poll.failed["meter1"], DeviceSilentError)
        assert "meter1/grid_power" in poll.attempted
        assert "meter1/grid_power" not in poll.readings
        assert {"ac_power", "mppt1/pv_power", "battery1/battery_soc"} <= set(
            poll.readings
        )
        assert poll.answered
        # The inverter itself silent: nothing to show, the poll raises.
        emulator.failing_models.add(103)
        with pytest.raises(DeviceSilentError):
            await driver.async_poll({Cadence.FAST})
        await link.close()


async def test_cadences_read_only_what_is_due() -> None:
    emulator = SunSpecInverterEmulator(_site())
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        slow = await driver.async_poll({Cadence.SLOW})
        fast = await driver.async_poll({Cadence.FAST})
        await link.close()
    # 120 (battery capacity), 121 (WMax), 122 (grid connection) and 123
    # (the limit) have only slow keys.
    assert slow.attempted == {
        "battery_capacity",
        "inverter_max_power",
        "grid_connection",
        "active_power_limit",
    }
    assert "active_power_limit" not in fast.attempted
    assert "ac_power" in fast.attempted
    # A slow key read along with fast ones in the same model is reported.
    assert "ac_energy" in fast.readings
    assert driver.diagnostics()["base_address"] == 40000


# Commands


async def test_active_power_limit_is_written_confirmed_and_reverts() -> None:
    # A small battery leaves most of the PV for the AC side.
    site = _site(battery_max_power_w=100.0)
    emulator = SunSpecInverterEmulator(site, rated_w=1000.0)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1, revert_timeout_s=300)
        await driver.async_identify()
        spec = driver.commands[CommandKind.ACTIVE_POWER_LIMIT]
        assert (spec.minimum, spec.maximum, spec.step) == (0.0, 100.0, 0.1)
        unlimited = await driver.async_read()
        assert float(unlimited["ac_power"].value) > 300

        assert (
            await execute(driver, Command(CommandKind.ACTIVE_POWER_LIMIT, 25.5)) == 25.5
        )
        limited = await driver.async_read()
        assert limited["active_power_limit"].value == 25.5
        assert limited["ac_power"].value == pytest.approx(255.0, abs=0.5)
        controls = emulator.current_values(123)
        assert controls is not None
        assert controls.get("WMaxLimPct_RvrtTms") == 300
        assert controls.get("WMaxLim_Ena") == 1

        # The controller went quiet: the inverter's timer lifts the limit.
        site.advance_to(site.time + 301)
        reverted = await driver.async_read()
        assert reverted["active_power_limit"].value == 100.0
        await link.close()


async def test_out_of_range_commands_are_rejected_before_sending() -> None:
    emulator = SunSpecInverterEmulator(_site())
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        for command in (
            Command(CommandKind.ACTIVE_POWER_LIMIT, 150.0),
            Command(CommandKind.ACTIVE_POWER_LIMIT, 50.05),  # finer than 0.1 %
            Command(CommandKind.BATTERY_CHARGE_POWER, 6000.0),
            Command(CommandKind.BATTERY_DISCHARGE_POWER, -1.0),
            Command(CommandKind.EXPORT_LIMIT, 1000.0),
        ):
            with pytest.raises(CommandRejectedError):
                await execute(driver, command)
        assert emulator.writes == []
        # The emulator, like a device, refuses what the driver never sends.
        controls = emulator.model_at(123)
        with pytest.raises(DeviceRejectedError) as rejected:
            await link.write_registers(1, controls.address + 5, [1001])
        assert rejected.value.code == 3
        with pytest.raises(IllegalAddressError):
            await link.write_registers(1, emulator.model_at(103).address + 14, [0])
        await link.close()


async def test_battery_charge_and_discharge_power() -> None:
    emulator = SunSpecInverterEmulator(_site())
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        charge = driver.commands[CommandKind.BATTERY_CHARGE_POWER]
        assert (charge.minimum, charge.maximum) == (0.0, 5000.0)
        assert (
            await execute(driver, Command(CommandKind.BATTERY_CHARGE_POWER, 2000.0))
            == 2000.0
        )
        discharge = Command(CommandKind.BATTERY_DISCHARGE_POWER, 1234.5)
        assert await execute(driver, discharge) == pytest.approx(1234.5)
        storage = emulator.current_values(124)
        assert storage is not None
        assert storage.get("StorCtl_Mod") == 0b11
        assert storage.get("InWRte") == 40.0
        assert storage.get("OutWRte") == 24.69
        assert storage.get("InOutWRte_RvrtTms") == 600
        await link.close()


async def test_release_disables_the_limit_and_each_storage_rate() -> None:
    """Released, the enable and the mode bit are off: the device's own limits rule."""
    emulator = SunSpecInverterEmulator(_site())
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        await execute(driver, Command(CommandKind.ACTIVE_POWER_LIMIT, 30.0))
        await execute(driver, Command(CommandKind.BATTERY_CHARGE_POWER, 2000.0))
        await execute(driver, Command(CommandKind.BATTERY_DISCHARGE_POWER, 1000.0))
        assert await driver.async_release(CommandKind.ACTIVE_POWER_LIMIT)
        assert await driver.async_release(CommandKind.BATTERY_CHARGE_POWER)
        controls = emulator.current_values(123)
        storage = emulator.current_values(124)
        assert controls is not None
        assert storage is not None
        assert controls.get("WMaxLim_Ena") == 0
        assert storage.get("StorCtl_Mod") == 0b10  # discharge still limited
        limit = Command(CommandKind.ACTIVE_POWER_LIMIT, 0)
        assert await driver.async_read_back(limit) == 100.0
        assert not await driver.async_release(CommandKind.GRID_SETPOINT)
        await link.close()


async def test_sub_device_targets_are_refused() -> None:
    emulator = SunSpecInverterEmulator(_site())
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        with pytest.raises(CommandRejectedError):
            await driver.async_apply(
                Command(CommandKind.ACTIVE_POWER_LIMIT, 50.0, target="battery1")
            )
        await link.close()


# Settings, status, volt-var, pricing and lithium-ion strings (121, 122, 125, 126, 804)


async def test_sma_dump_settings_status_and_volt_var_curve() -> None:
    """The real SMA's 121, 122 and 126, decoded as the driver reads them.

    126 holds one curve (NCrv 1) of 8 points (NPt 8), four active (ActPt 4),
    all at 100 % of VRef and 0 var: an inverter that does not do volt-var,
    and says so with ModEna 0. It maps to no key; it is decoded all the same.
    """
    words = parse_register_dump(SMA_DUMP.read_text())
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        block = next(b for b in driver.chain if b.model_id == 126)
        volt_var = await driver.read_model(block)
    assert volt_var.get("ModEna") == 0
    assert (volt_var.get("NCrv"), volt_var.get("NPt")) == (1, 8)
    (curve,) = volt_var.groups["curve"]
    assert curve.get("ActPt") == 4
    assert [curve.number(f"V{n}") for n in range(1, 5)] == [100.0] * 4
    assert curve.number("V9") is None  # beyond NPt: not implemented
    shown = driver.diagnostics()["grid_code_settings"]
    assert shown[126]["ModEna"] == 0  # type: ignore[index]
    assert shown[126]["curve"][0]["V1"] == 100.0  # type: ignore[index]
    assert not any(key in driver.available_keys() for key in ("volt_var", "pricing"))


async def test_lithium_ion_strings_are_sub_devices_with_their_modules() -> None:
    """Two 804 strings of 2 and 3 modules behind the emulated battery."""
    emulator = SunSpecInverterEmulator(_site(), battery_strings=(2, 3))
    assert emulator.model_ids()[-2:] == [804, 804]
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
        blocks = [b for b in driver.chain if b.model_id == 804]
        strings = [await driver.read_model(block) for block in blocks]
        await link.close()
    battery = emulator.site.battery
    subs = {sub.key: sub.name for sub in driver.sub_devices}
    assert subs["string1"] == "Battery string 1"
    assert subs["string2"] == "Battery string 2"
    for part, modules in (("string1", 2), ("string2", 3)):
        assert readings[f"{part}/battery_soc"].value == pytest.approx(
            100 * battery.soc, abs=0.1
        )
        # Half the pack's current each, charging > 0 again.
        assert readings[f"{part}/battery_current"].value == pytest.approx(
            battery.current / 2, abs=0.1
        )
        assert (
            readings[f"{part}/cell_voltage_max"].value
            > readings[f"{part}/cell_voltage_min"].value
        )
        assert readings[f"{part}/battery_temperature"].value == 25 + (modules - 1) / 2
        assert readings[f"{part}/battery_cycles"].value in (42, 43)
    assert [len(s.groups["lithium_ion_string_module"]) for s in strings] == [2, 3]
    module = strings[1].groups["lithium_ion_string_module"][2]
    assert module.get("ModNCell") == battery.cells_in_series // 3
    assert module.number("ModCellTmpAvg") == 27.0
    # The string's extremes are its modules' extremes.
    cell_max = max(
        m.number("ModCellVMax") or 0
        for m in strings[1].groups["lithium_ion_string_module"]
    )
    assert readings["string2/cell_voltage_max"].value == pytest.approx(cell_max)


async def test_string_points_not_implemented_are_absent() -> None:
    """An 804 without SoH, cycles and voltage gives the rest, not zeros."""
    string = {
        "Idx": 1,
        "NMod": 1,
        "St": 1,
        "SoC": 55.0,
        "A": 12.0,
        "CellVMax": 3.31,
        "CellVMin": 3.29,
        "CellVAvg": 3.30,
        "ModTmpMax": 26.0,
        "ModTmpMaxMod": 1,
        "ModTmpMin": 24.0,
        "ModTmpMinMod": 1,
        "ModTmpAvg": 25.0,
        "Evt1": 0,
        "SoC_SF": 0,
        "A_SF": 0,
        "CellV_SF": -2,
        "ModTmp_SF": 0,
        "lithium_ion_string_module": [{"ModNCell": 16}],
    }
    words = [
        *SUNS,
        *_common(),
        *_model(
            802,
            {"SoC": 55.0, "SoC_SF": 0, "V": 52.8, "V_SF": -1, "A": -12.0, "A_SF": 0},
        ),
        *_model(804, string),
        *END,
    ]
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
    assert readings["string1/battery_current"].value == -12.0  # discharging
    assert readings["string1/battery_soc"].value == 55.0
    assert readings["battery_soc"].value == 55.0
    assert (
        not {
            "string1/battery_soh",
            "string1/battery_cycles",
            "string1/battery_voltage",
        }
        & driver.available_keys()
    )


@pytest.mark.parametrize(
    ("pf", "pf_sf", "expected"),
    [(-996, -3, -0.996), (97, 0, 0.97), (-985, -1, -0.985), (0x8000, 0, None)],
)
async def test_meter_power_factor_as_ratio_or_percentage(
    pf: int, pf_sf: int, expected: float | None
) -> None:
    """A magnitude above 1 is a percentage; not implemented is absent."""
    raw = _model(203, {"W": 100.0, "W_SF": 0, "PF_SF": pf_sf})
    definition = model_definition(203)
    assert definition is not None
    # Offsets count from the model's ID register.
    offset = next(p.offset for p in definition.group.points if p.name == "PF")
    raw[offset] = pf & 0xFFFF
    words = [*SUNS, *_common(), *raw, *END]
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        readings = await driver.async_read()
    reading = readings.get("grid_power_factor")
    assert (reading.value if reading else None) == (
        pytest.approx(expected) if expected is not None else None
    )


async def test_grid_connection_from_the_status_model() -> None:
    words = [
        *SUNS,
        *_common(),
        *_model(101, {"W": 0.0, "W_SF": 0, "St": 2}),
        *_model(122, {"PVConn": 0, "StorConn": 0, "ECPConn": 0}),
        *END,
    ]
    async with _serving(words) as link:
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        slow = await driver.async_poll({Cadence.SLOW})
    assert slow.readings["grid_connection"].value == "disconnected"
