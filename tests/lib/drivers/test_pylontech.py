"""Pylontech RS485: real captures, a real byte stream, and the stack emulator."""

from collections.abc import Awaitable, Callable
import contextlib
import json
from pathlib import Path
import re

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.base import MAIN
from custom_components.energy_orchestrator.lib.drivers.bms import PylontechStack
from custom_components.energy_orchestrator.lib.drivers.bms.pylontech_protocol import (
    Cid2,
    Frame,
    decode_frame,
    encode_frame,
    encode_request,
    frame_end,
    length_field,
    parse_alarms,
    parse_analog,
    parse_management_info,
    parse_manufacturer_info,
    parse_serial_number,
    parse_software_version,
    parse_system_parameters,
    response_info,
)
from custom_components.energy_orchestrator.lib.drivers.cadence import (
    ALL_CADENCES,
    Cadence,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    BadResponseError,
    DeviceRejectedError,
    DeviceSilentError,
    WrongDeviceError,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.serial_link import (
    SerialLink,
)
from eo_lab.sim.devices.bms import PylontechStackEmulator
from eo_lab.sim.devices.serial_peer import Answer, SerialPeer
from eo_lab.sim.simulated_site import SimulatedSite
from eo_lab.sim.site import Site
from tests.conftest import StartPeer

FIXTURES = Path(__file__).parents[2] / "fixtures" / "bms"


def _capture() -> list[tuple[int, bool, bytes]]:
    """Return (timestamp, checksum flag, frame with its CR) of every frame."""
    rows = []
    for line in (FIXTURES / "pylontech_capture_frames.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        timestamp, _, flag, frame = line.split("\t")
        rows.append((int(timestamp), flag == "True", frame.encode() + b"\r"))
    return rows


CAPTURE = _capture()
VALID_FRAMES = [frame for _, valid, frame in CAPTURE if valid]


def _low_level_pairs() -> dict[tuple[int, int], bytes]:
    """Return the captured answers by (CID2, pack byte of the request INFO)."""
    pairs: dict[tuple[int, int], bytes] = {}
    request: Frame | None = None
    text = (FIXTURES / "pylontech_lowlevel_rs485_output.txt").read_text()
    for direction, frame in re.findall(r"(->|<-)\s+(~[0-9A-F]+)", text):
        if direction == "->":
            request = decode_frame(frame.encode() + b"\r")
        else:
            assert request is not None
            # Tomcat42 sends two INFO bytes; the second numbers the pack.
            per_pack = request.code in {Cid2.ANALOG, Cid2.ALARMS, 0x92, 0x96}
            pack = request.info[1] if per_pack else 0
            pairs[request.code, pack] = frame.encode() + b"\r"
    return pairs


LOW_LEVEL = _low_level_pairs()


def test_capture_holds_what_its_notice_says() -> None:
    assert len(CAPTURE) == 1569
    assert sum(valid for _, valid, _ in CAPTURE) == 1568


def test_every_frame_passes_or_fails_its_checksum_as_the_capture_flags() -> None:
    for _, valid, frame in CAPTURE:
        if valid:
            decode_frame(frame)
        else:
            with pytest.raises(BadResponseError):
                decode_frame(frame)


def test_the_inverters_request_is_the_one_the_driver_builds() -> None:
    requests = {frame for _, _, frame in CAPTURE if frame.startswith(b"~20024642")}
    assert requests == {encode_request(2, Cid2.ANALOG, b"\xff")}


def test_analog_answers_match_the_reference_decoder_for_every_frame() -> None:
    frames = {timestamp: frame for timestamp, _, frame in CAPTURE}
    reference = json.loads((FIXTURES / "pylontech_analog_first_pack.json").read_text())
    assert len(reference["frames"]) == 784
    for entry in reference["frames"]:
        expected = entry["decoded"]
        packs = parse_analog(
            response_info(frames[entry["timestamp_us"]], 2), all_packs=True
        )
        assert len(packs) == 2
        first = packs[0]
        assert list(first.cell_voltages) == pytest.approx(expected["CellVoltages"])
        assert list(first.temperatures) == pytest.approx(expected["Temperatures"])
        assert first.current == pytest.approx(expected["Current"])
        assert first.voltage == pytest.approx(expected["Voltage"])
        assert first.remaining_capacity == pytest.approx(expected["RemainCapacity"])
        assert first.total_capacity == pytest.approx(expected["ModuleTotalCapacity"])
        assert first.cycles == expected["CycleNumber"]
        # The second pack the reference decoder skips is a pack as plausible.
        second = packs[1]
        assert len(second.cell_voltages) == 15
        assert 3.0 < min(second.cell_voltages) <= max(second.cell_voltages) < 3.6
        assert second.total_capacity == 50.0


def test_captured_answers_of_every_command() -> None:
    assert decode_frame(LOW_LEVEL[Cid2.PROTOCOL_VERSION, 0]).version == 0x20
    info = parse_manufacturer_info(
        response_info(LOW_LEVEL[Cid2.MANUFACTURER_INFO, 0], 2)
    )
    assert (info.battery_name, info.software_version, info.manufacturer) == (
        "US2KBPL",
        "2.3",
        "Pylon",
    )
    [pack] = parse_analog(response_info(LOW_LEVEL[Cid2.ANALOG, 2], 2), all_packs=False)
    assert (pack.current, pack.voltage, pack.remaining_capacity) == (2.1, 50.408, 35.5)
    assert (pack.total_capacity, pack.cycles, pack.soc) == (50.0, 79, 71.0)
    assert (pack.cell_voltage_min, pack.cell_voltage_max) == (3.359, 3.362)
    assert pack.temperature == 29.0
    parameters = parse_system_parameters(
        response_info(LOW_LEVEL[Cid2.SYSTEM_PARAMETERS, 0], 2)
    )
    assert (parameters.cell_high_voltage, parameters.module_high_voltage) == (
        3.65,
        54.0,
    )
    assert (parameters.module_low_voltage, parameters.module_under_voltage) == (
        46.0,
        44.5,
    )
    assert (parameters.charge_high_temperature, parameters.charge_low_temperature) == (
        61.0,
        -11.0,
    )
    assert (
        parameters.charge_current_limit,
        parameters.discharge_current_limit,
    ) == (102.0, 100.0)
    limits = parse_management_info(response_info(LOW_LEVEL[Cid2.MANAGEMENT_INFO, 2], 2))
    assert (limits.charge_voltage_limit, limits.discharge_voltage_limit) == (
        53.25,
        47.0,
    )
    assert (limits.charge_current_limit, limits.discharge_current_limit) == (25.0, 25.0)
    assert limits.charge_enabled
    assert limits.discharge_enabled
    assert not limits.full_charge_requested
    [alarms] = parse_alarms(
        response_info(LOW_LEVEL[Cid2.ALARMS, 1], 2), all_packs=False
    )
    assert len(alarms.cells) == 15
    assert alarms.active() == []
    version = response_info(LOW_LEVEL[Cid2.SOFTWARE_VERSION, 1], 2)
    assert parse_software_version(version) == "2.3 (0.6.5)"


def test_stacks_of_three_and_four_packs_and_large_packs() -> None:
    lines = [
        line
        for line in (FIXTURES / "pylontech_frankkkkk_pdu_examples.txt")
        .read_text()
        .splitlines()
        if line.startswith("~")
    ]
    us2000, us3000 = (
        parse_analog(response_info(line.encode() + b"\r", 2), all_packs=True)
        for line in lines
    )
    assert [p.current for p in us2000] == [-2.6, -2.5, -2.7]
    assert {(p.remaining_capacity, p.total_capacity, p.cycles) for p in us2000} == {
        (33.5, 50.0, 31)
    }
    # US3000 packs (74 Ah) give their capacities in the 3-byte fields.
    assert [p.total_capacity for p in us3000] == [74.0] * 4
    assert [p.remaining_capacity for p in us3000] == [61.42, 62.16, 59.2, 60.68]
    assert [p.cycles for p in us3000] == [47, 40, 113, 107]


@pytest.mark.parametrize(
    ("digits", "field"), [(0, 0x0000), (2, 0xE002), (4, 0xC004), (110, 0xC06E)]
)
def test_length_field(digits: int, field: int) -> None:
    assert length_field(digits) == field


def test_frame_end_waits_for_a_whole_frame() -> None:
    frame = LOW_LEVEL[Cid2.MANAGEMENT_INFO, 1]
    assert frame_end(frame[:-1]) is None
    assert frame_end(b"\r\x00noise" + frame + b"~20") == len(frame) + 7


def _with_body(frame: bytes, body: bytes) -> bytes:
    """Return a frame with another body and the checksum that fits it."""
    checksum = -sum(body) & 0xFFFF
    return b"~" + body + f"{checksum:04X}".encode() + b"\r"


def test_damaged_frames_are_rejected() -> None:
    frame = LOW_LEVEL[Cid2.MANAGEMENT_INFO, 1]
    with pytest.raises(BadResponseError, match="checksum"):
        decode_frame(frame.replace(b"D002", b"D003"))
    body = frame[1:-5]
    with pytest.raises(BadResponseError, match="length checksum"):
        decode_frame(_with_body(frame, body[:8] + b"C014" + body[12:]))
    with pytest.raises(BadResponseError, match="LENGTH says"):
        decode_frame(_with_body(frame, body[:8] + b"E002" + body[12:]))
    with pytest.raises(BadResponseError, match="upper-case"):
        decode_frame(_with_body(frame, body.lower()))
    with pytest.raises(BadResponseError, match="cut short"):
        decode_frame(b"~2002\r")
    with pytest.raises(BadResponseError, match="closing CR"):
        decode_frame(frame[:-1])


def test_answers_from_elsewhere_or_with_an_error_code() -> None:
    frame = LOW_LEVEL[Cid2.MANAGEMENT_INFO, 1]
    with pytest.raises(BadResponseError, match="address 2, not 3"):
        response_info(frame, 3)
    rejected = encode_frame(Frame(0x20, 2, 0x46, 0x04, b""))
    with pytest.raises(DeviceRejectedError, match="not supported") as caught:
        response_info(rejected, 2)
    assert caught.value.code == 0x04
    other_device = encode_frame(Frame(0x20, 2, 0x4A, 0, b""))
    with pytest.raises(BadResponseError, match="device type 4A"):
        response_info(other_device, 2)


PARSERS: list[Callable[[bytes], object]] = [
    lambda info: parse_analog(info, all_packs=True),
    lambda info: parse_analog(info, all_packs=False),
    lambda info: parse_alarms(info, all_packs=True),
    parse_system_parameters,
    parse_management_info,
    parse_manufacturer_info,
    parse_serial_number,
    parse_software_version,
]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_frame_decoder(raw: bytes) -> None:
    with contextlib.suppress(BadResponseError):
        decode_frame(raw)


@given(st.binary(max_size=300), st.sampled_from(PARSERS))
def test_arbitrary_info_never_crashes_a_parser(
    info: bytes, parse: Callable[[bytes], object]
) -> None:
    with contextlib.suppress(BadResponseError):
        parse(info)


@settings(deadline=None)
@given(st.sampled_from(VALID_FRAMES[:40]), st.data())
def test_a_damaged_captured_frame_never_decodes(
    frame: bytes, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(frame) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != frame[index]))
    damaged = frame[:index] + bytes([replacement]) + frame[index + 1 :]
    with pytest.raises(BadResponseError):
        decode_frame(damaged)


# A peer that answers like the captured stack: the master at address 2 gives
# the captured answers, a second pack at address 3 is silent, serial numbers
# are "not supported".
type Script = Callable[[Frame], bytes]


def _captured_stack(request: Frame) -> bytes:
    """Return the captured answer to a request, or nothing."""
    if request.address != 2:
        return b""
    if request.code == Cid2.SERIAL_NUMBER:
        return encode_frame(Frame(0x20, 2, 0x46, 0x04, b""))
    if request.code == Cid2.ANALOG and request.info == b"\xff":
        return VALID_FRAMES[1]
    key = (request.code, 2 if request.info else 0)
    if key not in LOW_LEVEL:
        key = (request.code, 1)
    return LOW_LEVEL.get(key, b"")


def _scripted(script: Script, wrap: Callable[[bytes], bytes] = lambda b: b):
    """Return a peer answer function running a script on decoded requests."""

    def answer(request: bytes) -> bytes:
        reply = script(decode_frame(request))
        return wrap(reply) if reply else b""

    return answer


@pytest.fixture
def peer(serial_peers: StartPeer) -> Callable[[Answer], Awaitable[SerialPeer]]:
    """Start scripted socket peers speaking Pylontech's framing."""
    return lambda answer: serial_peers(frame_end, answer)


def _driver(url: str, timeout: float = 0.2) -> PylontechStack:
    """Return a driver on a link to a peer; peers answer within milliseconds."""
    return PylontechStack(
        SerialLink(parse_endpoint(url, baudrate=115200), timeout=timeout)
    )


async def test_driver_against_the_captured_stack(
    peer: Callable[..., SerialPeer],
) -> None:
    running = await peer(_scripted(_captured_stack))
    driver = _driver(running.url)
    identity = await driver.async_identify()
    assert identity.manufacturer == "Pylontech"
    assert identity.model == "US2KBPL"
    assert identity.firmware == "2.3"
    # No serial number: the stand-in is made of what the stack reports.
    assert identity.serial_number == "US2KBPL-15S-02"
    assert [sub.key for sub in driver.sub_devices] == ["pack1", "pack2"]
    assert driver.sub_devices[0].firmware == "2.3 (0.6.5)"
    assert driver.sub_devices[1].firmware is None

    poll = await driver.async_poll(ALL_CADENCES)
    assert set(poll.failed) == {"pack2"}
    assert isinstance(poll.failed["pack2"], DeviceSilentError)
    values = {key: reading.value for key, reading in poll.readings.items()}
    assert values["pack1/battery_voltage"] == 50.408
    assert values["pack1/battery_current"] == 2.1
    # 50.408 V x 2.1 A is 105.8568 W, reported to the 0.1 W.
    assert values["pack1/battery_power"] == 105.9
    assert values["pack1/battery_soc"] == 71.0
    assert values["pack1/battery_charge_current_limit"] == 25.0
    # The stack's voltage and SOC come from the pack that answered; its
    # current would be a wrong sum without pack 2, so it is not reported.
    assert values["battery_voltage"] == 50.408
    assert values["battery_soc"] == 71.0
    assert "battery_current" in poll.attempted
    assert "battery_current" not in values
    assert values["battery_charge_current_limit"] == 25.0
    assert values["battery_charge_voltage_limit"] == 53.25
    assert "pack2/battery_voltage" in poll.attempted
    assert driver.diagnostics()["packs"]["pack1"]["alarms"] == []  # type: ignore[index]
    await driver.link.close()


async def test_noise_before_an_answer_is_skipped(
    peer: Callable[..., SerialPeer],
) -> None:
    running = await peer(
        _scripted(_captured_stack, wrap=lambda reply: b"\x00\xff~~?" + reply)
    )
    driver = _driver(running.url)
    await driver.async_identify()
    assert len(driver.sub_devices) == 2
    await driver.link.close()


@pytest.mark.parametrize(
    ("wrap", "error"),
    [
        (lambda reply: b"", DeviceSilentError),
        (lambda reply: b"garbage without a frame", DeviceSilentError),
        (lambda reply: reply[: len(reply) // 2], DeviceSilentError),
        (lambda reply: reply[:-5] + b"0000\r", WrongDeviceError),
    ],
    ids=["silence", "garbage", "short frame", "wrong checksum"],
)
async def test_identify_fails_on_what_is_no_answer(
    peer: Callable[..., SerialPeer],
    wrap: Callable[[bytes], bytes],
    error: type[Exception],
) -> None:
    running = await peer(
        _scripted(_captured_stack, wrap=lambda reply: wrap(reply) or b"")
    )
    # Every exchange here ends in silence or a bad frame: no need to wait long.
    driver = _driver(running.url, timeout=0.1)
    with pytest.raises(error):
        await driver.async_identify()
    await driver.link.close()


async def test_a_wrong_checksum_in_a_poll_is_a_bad_answer(
    peer: Callable[..., SerialPeer],
) -> None:
    damaged = {"on": False}

    def wrap(reply: bytes) -> bytes:
        return reply[:-5] + b"0000\r" if damaged["on"] else reply

    running = await peer(_scripted(_captured_stack, wrap=wrap))
    driver = _driver(running.url)
    await driver.async_identify()
    damaged["on"] = True
    poll = await driver.async_poll({Cadence.FAST})
    assert isinstance(poll.failed["pack1"], BadResponseError)
    assert not poll.answered
    await driver.link.close()


@pytest.fixture
def still_site() -> Site:
    """Return a site that stands still: its values do not move during a test."""
    return SimulatedSite().site


async def test_emulated_stack_reports_the_site_battery(still_site: Site) -> None:
    battery = still_site.battery
    async with PylontechStackEmulator(still_site, packs=3) as stack:
        driver = _driver(stack.url)
        identity = await driver.async_identify()
        assert identity.serial_number == stack.serial_number(1)
        assert [sub.serial_number for sub in driver.sub_devices] == [
            stack.serial_number(n) for n in (1, 2, 3)
        ]
        assert driver.available_keys() >= {
            "battery_soc",
            "pack3/battery_cycles",
            "pack1/battery_charge_current_limit",
        }
        poll = await driver.async_poll(ALL_CADENCES)
        await driver.link.close()
    assert not poll.failed
    values = {key: reading.value for key, reading in poll.readings.items()}
    assert values["battery_voltage"] == pytest.approx(
        battery.terminal_voltage, abs=1e-3
    )
    assert values["battery_soc"] == pytest.approx(100 * battery.soc, abs=0.01)
    assert values["battery_current"] == pytest.approx(
        battery.measured_current, abs=0.15
    )
    assert values["battery_power"] == pytest.approx(
        battery.terminal_voltage * battery.measured_current, abs=10
    )
    assert values["battery_capacity"] == pytest.approx(battery.capacity_ah, abs=0.01)
    for pack in (1, 2, 3):
        assert values[f"pack{pack}/battery_capacity"] == pytest.approx(
            battery.capacity_ah / 3, abs=1e-3
        )
    assert values["cell_voltage_min"] < values["cell_voltage_max"]
    assert values["battery_temperature"] == 27.0  # the warmest pack's board
    assert values["battery_charge_current_limit"] == pytest.approx(
        3 * values["pack1/battery_charge_current_limit"]
    )


async def test_the_emulator_follows_a_running_site(site: SimulatedSite) -> None:
    async with PylontechStackEmulator(site.site, sync=site.sync) as stack:
        driver = _driver(stack.url)
        await driver.async_identify()
        poll = await driver.async_poll({Cadence.FAST})
        await driver.link.close()
    soc = poll.readings["battery_soc"].value
    assert soc == pytest.approx(100 * site.site.battery.soc, abs=0.1)


async def test_a_silent_pack_fails_alone(still_site: Site) -> None:
    async with PylontechStackEmulator(still_site, packs=3) as stack:
        driver = _driver(stack.url)
        await driver.async_identify()
        stack.silent_packs.add(2)
        poll = await driver.async_poll(ALL_CADENCES)
        await driver.link.close()
    assert set(poll.failed) == {"pack2"}
    assert "pack1/battery_soc" in poll.readings
    assert "pack3/battery_soc" in poll.readings
    assert "pack2/battery_soc" not in poll.readings
    assert "pack2/battery_soc" in poll.attempted
    assert MAIN not in poll.failed
    assert "battery_current" not in poll.readings
    assert "battery_voltage" in poll.readings


async def test_a_stack_without_management_info_gives_its_system_limits(
    still_site: Site,
) -> None:
    async with PylontechStackEmulator(still_site, packs=1) as stack:
        stack.unsupported.add(Cid2.MANAGEMENT_INFO)
        driver = _driver(stack.url)
        await driver.async_identify()
        poll = await driver.async_poll({Cadence.SLOW})
        await driver.link.close()
    assert not poll.failed
    parameters = driver.system_parameters
    assert parameters is not None
    assert poll.readings["battery_charge_voltage_limit"].value == (
        parameters.module_high_voltage
    )
    assert "pack1/battery_charge_voltage_limit" not in poll.attempted
    assert driver.diagnostics()["unsupported_commands"] == ["92"]


async def test_one_large_pack_uses_the_long_capacity_fields(still_site: Site) -> None:
    async with PylontechStackEmulator(still_site, packs=1) as stack:
        driver = _driver(stack.url)
        await driver.async_identify()
        poll = await driver.async_poll({Cadence.FAST})
        await driver.link.close()
    # 200 Ah does not fit the 16-bit field of mAh.
    assert poll.readings["pack1/battery_capacity"].value == 200.0


async def test_a_master_refusing_all_packs_at_once_is_a_stack_of_one(
    still_site: Site,
) -> None:
    async with PylontechStackEmulator(still_site, packs=1) as stack:
        stack.answers_all_packs = False
        driver = _driver(stack.url)
        await driver.async_identify()
        await driver.link.close()
    assert [sub.key for sub in driver.sub_devices] == ["pack1"]


async def test_a_lost_serial_number_is_not_taken_for_none(
    peer: Callable[..., SerialPeer],
) -> None:
    def no_serial_answer(request: Frame) -> bytes:
        return b"" if request.code == Cid2.SERIAL_NUMBER else _captured_stack(request)

    running = await peer(_scripted(no_serial_answer))
    driver = _driver(running.url)
    # A stand-in serial number now would make the stack look like another.
    with pytest.raises(DeviceSilentError):
        await driver.async_identify()
    await driver.link.close()


async def test_another_protocol_is_not_a_pylontech(
    peer: Callable[..., SerialPeer],
) -> None:
    running = await peer(lambda request: encode_frame(Frame(0x20, 2, 0x4A, 0, b"")))
    driver = _driver(running.url)
    with pytest.raises(WrongDeviceError, match="type 4A"):
        await driver.async_identify()
    await driver.link.close()
