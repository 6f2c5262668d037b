"""The Voltronic PI30 driver over a real byte stream: captured answers, failures."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.energy_orchestrator.lib.drivers.base import execute
from custom_components.energy_orchestrator.lib.drivers.cadence import (
    ALL_CADENCES,
    Cadence,
)
from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
    CommandNotConfirmedError,
    CommandRejectedError,
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
from custom_components.energy_orchestrator.lib.drivers.values import Identity
from custom_components.energy_orchestrator.lib.drivers.voltronic import VoltronicPI30
from custom_components.energy_orchestrator.lib.drivers.voltronic.codec import (
    encode_request,
    encode_response,
    pi_crc,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "voltronic"
PROTOCOLS: dict[str, list[dict[str, Any]]] = json.loads(
    (FIXTURES / "mppsolar_pi_test_responses.json").read_text()
)["protocols"]


def _captured(protocol: str, command: str, index: int = 0) -> bytes:
    """Return a captured answer to a command."""
    entries = [e for e in PROTOCOLS[protocol] if e["command"] == command]
    return bytes.fromhex(entries[index]["raw_hex"])


ACK = _captured("pi30", "POP", 1)
NAK = _captured("pi30", "POP", 0)
# A real inverter, answer by answer: an MKS2-8000 on firmware 72.70 with a
# 28-field QPIRI, in battery mode with a line fail and an overload warning.
CAPTURED: dict[str, bytes] = {
    "QPI": _captured("pi30", "QPI"),
    "QID": _captured("pi30", "QID"),
    "QVFW": _captured("pi30", "QVFW"),
    "QMN": _captured("pi30", "QMN"),
    "QGMN": _captured("pi30", "QGMN"),
    "QPIRI": _captured("pi30", "QPIRI", 5),
    "QMCHGCR": _captured("pi30", "QMCHGCR"),
    "QPIGS": _captured("pi30", "QPIGS"),
    "QMOD": _captured("pi41", "QMOD", 1),
    "QPIWS": _captured("pi30", "QPIWS"),
    "QFLAG": _captured("pi30", "QFLAG"),
}
assert ACK == b"(ACK9 \r"
assert NAK == b"(NAKss\r"

type Answer = Callable[[str], bytes]


@dataclass
class Peer:
    """A scripted inverter behind a TCP socket, and what it was asked."""

    url: str
    requests: list[bytes] = field(default_factory=list)

    @property
    def commands(self) -> list[str]:
        """Return the commands asked, CRC and CR taken off."""
        return [request[:-3].decode() for request in self.requests]


@pytest.fixture
async def peer() -> AsyncIterator[Callable[[Answer], Awaitable[Peer]]]:
    """Start scripted inverters: ``answer(command)`` gives the bytes to send."""
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> Peer:
        served = Peer("")

        async def handle(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            try:
                while request := await reader.readuntil(b"\r"):
                    served.requests.append(request)
                    body, crc = request[:-3], request[-3:-1]
                    command = body.decode() if pi_crc(body) == crc else "<bad crc>"
                    if reply := answer(command):
                        writer.write(reply)
                        await writer.drain()
            except asyncio.IncompleteReadError, ConnectionError:
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        served.url = f"socket://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return served

    yield start
    for server in servers:
        server.close()
        # A driver a test left open must not keep the server waiting.
        server.close_clients()
        await server.wait_closed()


def _script(**changes: bytes) -> Answer:
    """Return the captured inverter, some answers changed; NAK to the rest."""
    answers = CAPTURED | changes

    def answer(command: str) -> bytes:
        if command in answers:
            return answers[command]
        return ACK if command[:3] in ("POP", "PCP", "PSD", "PCV", "PBF") else NAK

    return answer


def _driver(peer: Peer, timeout: float = 0.5) -> VoltronicPI30:
    link = SerialLink(parse_endpoint(peer.url, baudrate=2400), timeout=timeout)
    return VoltronicPI30(link, 1, wall_clock=lambda: 1000.0)


async def test_identify_and_poll_the_captured_inverter(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    inverter = await peer(_script())
    driver = _driver(inverter)
    identity = await driver.async_identify()
    assert identity == Identity(
        manufacturer="Voltronic Power",
        model="MKS2-8000",
        serial_number="9293333010501",
        firmware="00072.70",
    )
    # The requests are byte for byte what mppsolar sends.
    assert inverter.requests[0] == bytes.fromhex("515049beac0d")
    assert inverter.commands == [
        "QPI",
        "QID",
        "QVFW",
        "QMN",
        "QGMN",
        "QPIRI",
        "QMCHGCR",
    ]
    cutoff = driver.commands[CommandKind.BATTERY_CUTOFF_VOLTAGE]
    assert (cutoff.minimum, cutoff.maximum, cutoff.step) == (40.0, 48.0, 0.1)
    bulk = driver.commands[CommandKind.BATTERY_BULK_VOLTAGE]
    assert (bulk.minimum, bulk.maximum) == (48.0, 58.4)
    current = driver.commands[CommandKind.BATTERY_CHARGE_CURRENT]
    assert (current.minimum, current.maximum, current.step) == (10.0, 120.0, 10.0)
    assert driver.commands[CommandKind.OUTPUT_SOURCE_PRIORITY].options == (
        "utility",
        "solar",
        "sbu",
    )

    poll = await driver.async_poll(ALL_CADENCES)
    values = {key: reading.value for key, reading in poll.readings.items()}
    assert values == {
        # 0 V and 0 Hz at the input: the grid is gone (line fail warning).
        "ac_input_voltage": 0.0,
        "ac_input_frequency": 0.0,
        "ac_output_voltage": 230.0,
        "ac_output_frequency": 49.9,
        "ac_output_apparent_power": 161.0,
        "ac_output_power": 119.0,
        "ac_output_load": 3.0,
        "dc_bus_voltage": 460.0,
        "battery_voltage": 57.5,
        "battery_current": 12.0,
        "battery_power": pytest.approx(690.0),
        "battery_soc": 100.0,
        "inverter_temperature": 69.0,
        "pv_voltage": 103.8,
        "pv_power": 856.0,
        # 856 W / 103.8 V, to the 10 mA.
        "pv_current": 8.25,
        "inverter_mode": "battery",
        "battery_charge_voltage_limit": 54.0,
        "battery_discharge_voltage_limit": 42.0,
    }
    assert poll.attempted == set(values) == driver.available_keys()
    assert {reading.timestamp for reading in poll.readings.values()} == {1000.0}
    diagnostics = driver.diagnostics()
    assert diagnostics["warnings"] == ["Line fail warning", "Overload fault"]
    assert diagnostics["flags"] == {
        "buzzer": True,
        "lcd_escape_to_default_page": True,
        "backlight": True,
        "primary_source_interrupt_alarm": True,
        "overload_bypass": False,
        "power_saving": False,
        "overload_restart": False,
        "over_temperature_restart": False,
        "fault_code_record": False,
    }
    assert diagnostics["device_status"] == driver.device_status
    assert driver.device_status["scc_charging_on"] is True
    assert diagnostics["model_code"] == "044"
    assert diagnostics["unit_ignored"] == 1

    # The fast cadence leaves QPIRI and QFLAG alone.
    asked = len(inverter.requests)
    fast = await driver.async_poll({Cadence.FAST})
    assert inverter.commands[asked:] == ["QPIGS", "QMOD", "QPIWS"]
    assert "battery_charge_voltage_limit" not in fast.attempted
    await driver.link.close()


async def test_a_model_from_the_ratings_when_qmn_is_refused(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    inverter = await peer(_script(QMN=NAK, QGMN=NAK, QMCHGCR=NAK))
    driver = _driver(inverter)
    identity = await driver.async_identify()
    assert identity.model == "PI30 inverter 8000 VA 48 V"
    assert driver.unsupported == {"QMN", "QGMN", "QMCHGCR"}
    # Without QMCHGCR, the documented default list.
    current = driver.commands[CommandKind.BATTERY_CHARGE_CURRENT]
    assert (current.minimum, current.maximum) == (10.0, 120.0)
    await driver.link.close()


async def test_a_serial_number_from_qsid_when_qid_is_refused(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    qsid = _captured("pi41", "QSID")
    inverter = await peer(_script(QID=NAK, QSID=qsid))
    driver = _driver(inverter)
    assert (await driver.async_identify()).serial_number == "92932105105335"
    await driver.link.close()
    driver = _driver(await peer(_script(QID=NAK)))
    with pytest.raises(WrongDeviceError, match="no serial number"):
        await driver.async_identify()
    await driver.link.close()


async def test_without_qpiri_nothing_can_be_commanded(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    inverter = await peer(_script(QPIRI=NAK, QMN=NAK))
    driver = _driver(inverter)
    identity = await driver.async_identify()
    assert identity.model == "PI30 inverter"
    assert driver.commands == {}
    assert "battery_charge_voltage_limit" not in driver.available_keys()
    poll = await driver.async_poll(ALL_CADENCES)
    assert "battery_charge_voltage_limit" not in poll.attempted
    assert inverter.commands.count("QPIRI") == 1
    with pytest.raises(CommandRejectedError):
        await execute(driver, Command(CommandKind.OUTPUT_SOURCE_PRIORITY, "sbu"))
    await driver.link.close()


@pytest.mark.parametrize(
    ("qpi", "message"),
    [
        (_captured("pi16", "QPI"), "speaks PI16, not PI30"),
        (NAK, r"refuses QPI \(NAK\)"),
        (b"hello\r", "syntax"),
        (b"\x01\x03\x02\x00\x01\x79\x84\r", "syntax"),
        (encode_response("PIXX"), "no protocol id"),
        # The broken capture: a PI30 answer with a wrong CRC, twice.
        (_captured("pi30", "QMOD"), "CRC"),
    ],
)
async def test_other_devices_are_wrong_devices(
    peer: Callable[[Answer], Awaitable[Peer]], qpi: bytes, message: str
) -> None:
    inverter = await peer(_script(QPI=qpi))
    driver = _driver(inverter)
    with pytest.raises(WrongDeviceError, match=message):
        await driver.async_identify()
    await driver.link.close()


async def test_one_garbled_qpi_is_asked_again(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    answers = iter([b"(PI3\x00\r", CAPTURED["QPI"]])
    inverter = await peer(
        lambda command: next(answers) if command == "QPI" else _script()(command)
    )
    driver = _driver(inverter)
    assert (await driver.async_identify()).serial_number == "9293333010501"
    assert inverter.commands[:2] == ["QPI", "QPI"]
    await driver.link.close()


async def test_a_silent_port_is_silent_not_wrong(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    inverter = await peer(lambda command: b"")
    driver = _driver(inverter, timeout=0.2)
    with pytest.raises(DeviceSilentError):
        await driver.async_identify()
    await driver.link.close()


QPIGS = CAPTURED["QPIGS"]


@pytest.mark.parametrize(
    ("qpigs", "error", "message"),
    [
        (b"#$%&garbage\r", BadResponseError, "start with"),
        # A digit flipped on the line: the CRC no longer fits.
        (QPIGS.replace(b"57.50", b"57.58"), BadResponseError, "CRC"),
        # An intact frame too short to be a QPIGS answer.
        (encode_response("230.0 50.0 230.0 50.0"), BadResponseError, "4 fields"),
        (NAK, DeviceRejectedError, r"refused QPIGS \(NAK\)"),
        # Half an answer, then nothing: no whole frame is silence.
        (QPIGS[:40], DeviceSilentError, "40 bytes received"),
        (b"", DeviceSilentError, "no complete answer"),
    ],
)
async def test_a_bad_qpigs_fails_the_poll_with_no_values(
    peer: Callable[[Answer], Awaitable[Peer]],
    qpigs: bytes,
    error: type[Exception],
    message: str,
) -> None:
    inverter = await peer(_script(QPIGS=qpigs))
    driver = _driver(inverter, timeout=0.2)
    await driver.async_identify()
    with pytest.raises(error, match=message):
        await driver.async_poll(ALL_CADENCES)
    await driver.link.close()


async def test_failing_extras_leave_their_keys_absent(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    # QMOD's broken capture has a wrong CRC; QPIWS and QFLAG are refused.
    inverter = await peer(_script(QMOD=_captured("pi30", "QMOD"), QPIWS=NAK, QFLAG=NAK))
    driver = _driver(inverter)
    await driver.async_identify()
    poll = await driver.async_poll(ALL_CADENCES)
    assert "inverter_mode" in poll.attempted
    assert "inverter_mode" not in poll.readings
    assert poll.readings["battery_voltage"].value == 57.5
    assert "CRC" in driver.last_errors["QMOD"]
    assert driver.unsupported == {"QPIWS", "QFLAG"}
    # A refused query is not asked again until the next identification.
    asked = len(inverter.requests)
    await driver.async_poll(ALL_CADENCES)
    assert inverter.commands[asked:] == ["QPIGS", "QMOD", "QPIRI"]
    await driver.async_identify()
    assert driver.unsupported == set()
    await driver.link.close()


async def test_a_fault_bit_makes_the_mode_fault(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    bits = "".join("1" if index in (1, 9) else "0" for index in range(32))
    inverter = await peer(_script(QPIWS=encode_response(bits)))
    driver = _driver(inverter)
    await driver.async_identify()
    poll = await driver.async_poll({Cadence.FAST})
    assert poll.readings["inverter_mode"].value == "fault"
    assert driver.diagnostics()["warnings"] == [
        "Inverter fault",
        "Over temperature fault",
    ]
    await driver.link.close()


async def test_setters_are_confirmed_through_qpiri(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    inverter = await peer(_script())
    driver = _driver(inverter)
    await driver.async_identify()
    # The captured QPIRI says SBU, 54.0 V bulk, 42.0 V cut-off, 30 A.
    sbu = Command(CommandKind.OUTPUT_SOURCE_PRIORITY, "sbu")
    assert await execute(driver, sbu) == "sbu"
    cutoff = Command(CommandKind.BATTERY_CUTOFF_VOLTAGE, 42.0)
    assert await execute(driver, cutoff) == 42.0
    assert inverter.commands[-4:] == ["POP02", "QPIRI", "PSDV42.0", "QPIRI"]
    # ACK, but QPIRI still shows the old value: not confirmed.
    with pytest.raises(CommandNotConfirmedError, match="reads back as 'sbu'"):
        await execute(driver, Command(CommandKind.OUTPUT_SOURCE_PRIORITY, "solar"))
    # Limits are checked before anything is sent.
    asked = len(inverter.requests)
    with pytest.raises(CommandRejectedError, match=r"above the maximum 58\.4 V"):
        await execute(driver, Command(CommandKind.BATTERY_BULK_VOLTAGE, 60.0))
    assert len(inverter.requests) == asked
    await driver.link.close()


async def test_a_nak_to_a_setter_is_a_rejection(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    inverter = await peer(_script(PCP00=NAK))
    driver = _driver(inverter)
    await driver.async_identify()
    with pytest.raises(DeviceRejectedError, match=r"refused PCP00 \(NAK\)"):
        await execute(driver, Command(CommandKind.CHARGER_SOURCE_PRIORITY, "utility"))
    assert inverter.commands[-1] == "PCP00"
    await driver.link.close()
    # An answer that is neither ACK nor NAK is no confirmation.
    inverter = await peer(_script(**{"PBFT54.0": encode_response("OK")}))
    driver = _driver(inverter)
    await driver.async_identify()
    with pytest.raises(BadResponseError, match="not ACK"):
        await execute(driver, Command(CommandKind.BATTERY_FLOAT_VOLTAGE, 54.0))
    await driver.link.close()


async def test_the_charging_current_setter_the_firmware_knows(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    # Older firmware: MNCHGC refused, MCHGC taken.
    inverter = await peer(_script(MNCHGC0030=NAK, MCHGC030=ACK))
    driver = _driver(inverter)
    await driver.async_identify()
    command = Command(CommandKind.BATTERY_CHARGE_CURRENT, 30.0)
    assert await execute(driver, command) == 30.0
    assert inverter.commands[-3:] == ["MNCHGC0030", "MCHGC030", "QPIRI"]
    # The one that worked is tried first from then on.
    assert await execute(driver, command) == 30.0
    assert inverter.commands[-2:] == ["MCHGC030", "QPIRI"]
    await driver.link.close()
    # Both refused: a rejection naming both.
    inverter = await peer(_script(MNCHGC0030=NAK, MCHGC030=NAK))
    driver = _driver(inverter)
    await driver.async_identify()
    with pytest.raises(DeviceRejectedError, match="MNCHGC0030 and MCHGC030"):
        await execute(driver, command)
    # A current off the inverter's list is refused before sending.
    with pytest.raises(CommandRejectedError, match="steps of 10"):
        await execute(driver, Command(CommandKind.BATTERY_CHARGE_CURRENT, 35.0))
    await driver.link.close()


async def test_an_uneven_current_list_is_checked_by_the_driver(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    inverter = await peer(_script(QMCHGCR=_captured("pi30", "QMUCHGCR")))
    driver = _driver(inverter)
    await driver.async_identify()
    spec = driver.commands[CommandKind.BATTERY_CHARGE_CURRENT]
    assert (spec.minimum, spec.maximum, spec.step) == (2.0, 120.0, None)
    asked = len(inverter.requests)
    with pytest.raises(CommandRejectedError, match="not a charging current"):
        await execute(driver, Command(CommandKind.BATTERY_CHARGE_CURRENT, 5.0))
    assert len(inverter.requests) == asked
    await driver.link.close()


def test_requests_carry_the_crc() -> None:
    assert encode_request("QPIGS") == bytes.fromhex("5150494753b7a90d")


async def test_raw_queries_answer_their_decoded_fields(
    peer: Callable[[Answer], Awaitable[Peer]],
) -> None:
    """QPIGS by field name with units; QID, QMOD, QVFW as one value; others refused."""
    inverter = await peer(_script())
    driver = _driver(inverter)
    status = await driver.async_query("QPIGS")
    assert status["grid_voltage"][1] == "V"
    assert isinstance(status["battery_voltage"][0], float)
    assert await driver.async_query("QID") == {"serial_number": ("9293333010501", "")}
    assert await driver.async_query("QVFW") == {"firmware": ("00072.70", "")}
    assert set(await driver.async_query("QMOD")) == {"mode"}
    with pytest.raises(CommandRejectedError):
        await driver.async_query("PE")  # a setter is no query
    await driver.link.close()
