"""Voltronic PI30 frames and answers: mppsolar's captures, CRC rule, properties."""

import contextlib
import json
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.errors import (
    BadResponseError,
    DeviceRejectedError,
)
from custom_components.energy_orchestrator.lib.drivers.voltronic.codec import (
    BARE_NAK,
    NakError,
    crc16_xmodem,
    decode_response,
    encode_request,
    encode_response,
    frame_end,
    pi_crc,
)
from custom_components.energy_orchestrator.lib.drivers.voltronic.mapping import (
    mode_value,
    rating_values,
    status_values,
)
from custom_components.energy_orchestrator.lib.drivers.voltronic.queries import (
    DEVICE_STATUS_BITS,
    QPIGS,
    QPIRI,
    InverterMode,
    flags_set,
    parse_current_options,
    parse_fields,
    parse_firmware,
    parse_flags,
    parse_long_serial_number,
    parse_mode,
    parse_model_code,
    parse_model_name,
    parse_protocol_id,
    parse_serial_number,
    parse_warnings,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "voltronic"
PROTOCOLS: dict[str, list[dict[str, Any]]] = json.loads(
    (FIXTURES / "mppsolar_pi_test_responses.json").read_text()
)["protocols"]
# Protocols whose every command speaks PI30 framing with CRC on both sides.
PI30_FRAMED = ("pi30", "pi41")


def _entries(command: str, protocols: tuple[str, ...] = PI30_FRAMED) -> list[Any]:
    return [
        entry
        for protocol in protocols
        for entry in PROTOCOLS[protocol]
        if entry["command"] == command
    ]


def _raw(entry: dict[str, Any]) -> bytes:
    return bytes.fromhex(entry["raw_hex"])


def _decoded(entry: dict[str, Any]) -> dict[str, Any]:
    """Return mppsolar's decoded values by field name, units left out."""
    return {
        key: value[0]
        for key, value in entry["decoded_by_mppsolar_0.16.56"].items()
        if isinstance(value, list) and key != "raw_response"
    }


# --- the frame codec -------------------------------------------------------


def test_crc_is_xmodem_with_voltronics_byte_rule() -> None:
    assert crc16_xmodem(b"123456789") == 0x31C3
    assert pi_crc(b"QPIGS") == bytes.fromhex("b7a9")
    # 0x0D, 0x28 and 0x0A never leave as CRC bytes: the PI41 QSID answer
    # carries a 0x0E where the plain CRC has 0x0D.
    [qsid] = _entries("QSID")
    raw = _raw(qsid)
    assert crc16_xmodem(raw[:-3]) & 0xFF == 0x0D
    assert raw[-2] == 0x0E
    assert decode_response(raw) == "1492932105105335005535"


def test_requests_are_the_ones_mppsolar_sends() -> None:
    checked = 0
    for protocol in PI30_FRAMED:
        for entry in PROTOCOLS[protocol]:
            request = bytes.fromhex(entry["request_hex_from_mppsolar"])
            assert encode_request(entry["command"]) == request, entry["command"]
            checked += 1
    assert checked == 180


@pytest.mark.parametrize("command", ["", "QPI\r", "QPÏ", "Q\x00"])
def test_unsendable_commands(command: str) -> None:
    with pytest.raises(ValueError, match="not a PI30 command"):
        encode_request(command)


def test_every_captured_answer_is_judged_as_its_crc_says() -> None:
    """The verdicts: 73 + 97 + 9 intact, 1 + 0 + 3 with a wrong CRC.

    Two QBMS answers end with a line feed, not the carriage return every
    PI30 frame ends with; the independent check leaves them unjudged, the
    codec rejects them. One "answer" to QPGS is the request itself, echoed
    (its CRC is the request's): no answer starts without "(".
    """
    verdicts: dict[str, dict[str, int]] = {}
    for protocol, entries in PROTOCOLS.items():
        counts = verdicts.setdefault(
            protocol,
            {"intact": 0, "broken": 0, "unterminated": 0, "echo": 0, "empty": 0},
        )
        for entry in entries:
            raw = _raw(entry)
            if not raw:
                counts["empty"] += 1
                continue
            if "crc_xmodem_pi_adjusted_valid" not in entry:
                assert entry["command"] == "QBMS"
                with pytest.raises(BadResponseError, match="carriage return"):
                    decode_response(raw)
                counts["unterminated"] += 1
                continue
            if not raw.startswith(b"("):
                assert raw == encode_request("QPGS0")
                with pytest.raises(BadResponseError, match="start with"):
                    decode_response(raw)
                counts["echo"] += 1
                continue
            try:
                decode_response(raw, entry["command"])
            except NakError:
                intact = True
            except BadResponseError:
                intact = False
            else:
                intact = True
            assert intact == entry["crc_xmodem_pi_adjusted_valid"], entry["raw_repr"]
            counts["intact" if intact else "broken"] += 1
    assert verdicts == {
        "pi30": {"intact": 73, "broken": 1, "unterminated": 1, "echo": 1, "empty": 3},
        "pi41": {"intact": 97, "broken": 0, "unterminated": 1, "echo": 0, "empty": 3},
        "pi16": {"intact": 9, "broken": 3, "unterminated": 0, "echo": 0, "empty": 0},
    }


def test_the_broken_pi30_capture_is_rejected_with_its_reason() -> None:
    [broken] = [
        entry
        for entry in PROTOCOLS["pi30"]
        if entry.get("crc_xmodem_pi_adjusted_valid") is False
    ]
    assert _raw(broken) == b"(Sd9\r"
    with pytest.raises(BadResponseError, match="QMOD has CRC 6439"):
        decode_response(_raw(broken), "QMOD")
    # mppsolar rejects it too.
    assert "Invalid response CRCs" in _decoded(broken)["validity check"]


def test_ack_and_nak() -> None:
    for entry in _entries("POP"):
        raw = _raw(entry)
        if raw.startswith(b"(ACK"):
            assert decode_response(raw, "POP02") == "ACK"
        else:
            with pytest.raises(NakError, match=r"refused POP02 \(NAK\)"):
                decode_response(raw, "POP02")
    # The NAK some firmware sends without CRC carries no value: taken as NAK.
    with pytest.raises(DeviceRejectedError, match="NAK"):
        decode_response(BARE_NAK, "PGR01")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"(230.0 50.0", "carriage return"),
        (b"230.0 50.0\r", "start with"),
        (b"(\r", "too short"),
        (b"(A\r", "too short"),
        (b"(ACK\r", "CRC"),
        (b"(" + b"\xff\xfe" + pi_crc(b"(\xff\xfe") + b"\r", "not ASCII"),
        (encode_response("A\x07B"), "control characters"),
    ],
)
def test_what_is_not_an_answer(frame: bytes, message: str) -> None:
    with pytest.raises(BadResponseError, match=message):
        decode_response(frame)


def test_frame_end_is_the_first_carriage_return() -> None:
    qpigs = _raw(_entries("QPIGS")[0])
    assert frame_end(qpigs[:-1]) is None
    assert frame_end(qpigs + b"(ACK") == len(qpigs)


# --- answers decoded as mppsolar decodes them ------------------------------

QPIGS_LABELS = {
    "grid_voltage": "AC Input Voltage",
    "grid_frequency": "AC Input Frequency",
    "ac_output_voltage": "AC Output Voltage",
    "ac_output_frequency": "AC Output Frequency",
    "ac_output_apparent_power": "AC Output Apparent Power",
    "ac_output_active_power": "AC Output Active Power",
    "ac_output_load": "AC Output Load",
    "bus_voltage": "BUS Voltage",
    "battery_voltage": "Battery Voltage",
    "battery_charging_current": "Battery Charging Current",
    "battery_capacity": "Battery Capacity",
    "heat_sink_temperature": "Inverter Heat Sink Temperature",
    "pv_input_current_for_battery": "PV Input Current for Battery",
    "pv_input_voltage": "PV Input Voltage",
    "battery_voltage_from_scc": "Battery Voltage from SCC",
    "battery_discharge_current": "Battery Discharge Current",
    "battery_voltage_offset_for_fans": "RSV1",
    "pv_charging_power": "PV Input Power",
}
# mppsolar's pi30 names of the two status fields' flags.
STATUS_BIT_LABELS = (
    "Is SBU Priority Version Added",
    "Is Configuration Changed",
    "Is SCC Firmware Updated",
    "Is Load On",
    "Is Battery Voltage to Steady While Charging",
    "Is Charging On",
    "Is SCC Charging On",
    "Is AC Charging On",
)
STATUS_2_LABELS = ("Is Charging to Float", "Is Switched On", "Is Reserved")


def test_qpigs_decodes_as_mppsolar_decodes_it() -> None:
    [entry] = _entries("QPIGS", ("pi30",))
    status = parse_fields(decode_response(_raw(entry)), QPIGS)
    expected = _decoded(entry)
    for name, label in QPIGS_LABELS.items():
        assert status[name] == pytest.approx(expected[label]), name
    assert status["eeprom_version"] == "00"
    assert expected["RSV2"] == 0
    flags = flags_set(status["device_status"], DEVICE_STATUS_BITS)
    assert [flags[name] for name in DEVICE_STATUS_BITS] == [
        bool(expected[label]) for label in STATUS_BIT_LABELS
    ]
    assert [bit == "1" for bit in str(status["device_status_2"])] == [
        bool(expected[label]) for label in STATUS_2_LABELS
    ]
    # The PI41 entry is the same answer, read with LV5048 names.
    [lv5048] = _entries("QPIGS", ("pi41",))
    assert _raw(lv5048) == _raw(entry)
    assert _decoded(lv5048)["PV Input Power"] == status["pv_charging_power"]


def test_qpigs_in_the_value_model() -> None:
    [entry] = _entries("QPIGS", ("pi30",))
    values = status_values(parse_fields(decode_response(_raw(entry)), QPIGS))
    assert values == {
        "ac_input_voltage": 0.0,
        "ac_input_frequency": 0.0,
        "ac_output_voltage": 230.0,
        "ac_output_frequency": 49.9,
        "ac_output_apparent_power": 161.0,
        "ac_output_power": 119.0,
        "ac_output_load": 3.0,
        "dc_bus_voltage": 460.0,
        "battery_voltage": 57.5,
        "battery_soc": 100.0,
        "inverter_temperature": 69.0,
        "pv_voltage": 103.8,
        # 12 A charging, 0 A discharging: > 0 is charging.
        "battery_current": 12.0,
        "battery_power": pytest.approx(690.0),
        "pv_power": 856.0,
        "pv_current": pytest.approx(856.0 / 103.8),
    }


def test_qpigs_of_older_firmware_has_17_fields() -> None:
    # The HS/MS/MSX layout: no PV power field, so PV power is the charger's
    # current into the battery at the battery voltage it measures.
    payload = (
        "230.1 50.0 230.0 50.0 0920 0880 018 395 52.10 000 085 0035 0021"
        " 280.4 52.20 00012 00010110"
    )
    values = status_values(parse_fields(payload, QPIGS))
    assert values["battery_current"] == -12.0
    assert values["battery_power"] == pytest.approx(-625.2)
    assert values["pv_power"] == pytest.approx(21 * 52.20)
    assert values["pv_current"] == pytest.approx(21 * 52.20 / 280.4)
    # A MAX answer's three extra fields are read, longer ones ignored.
    longer = parse_fields(payload + " 00 00 01096 010 0 00 0000 extra fields", QPIGS)
    assert longer["solar_feed_to_grid_power"] == 0.0
    assert status_values(longer)["pv_power"] == 1096.0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("230.1 50.0 230.0", "3 fields, at least 17"),
        (
            "230.1 50.0 230.0 50.0 0920 0880 018 395 52.1O 000 085 0035 0021"
            " 280.4 52.20 00012 00010110",
            "battery_voltage is '52.1O'",
        ),
        (
            "230.1 50.0 230.0 50.0 0920 0880 018 395 52.10 000 085 0035 0021"
            " 280.4 52.20 00012 0001x110",
            "device_status",
        ),
    ],
)
def test_a_bad_qpigs_gives_no_partial_numbers(payload: str, message: str) -> None:
    with pytest.raises(BadResponseError, match=message):
        parse_fields(payload, QPIGS)


QPIRI_NUMBER_LABELS = {
    "grid_rating_voltage": "AC Input Voltage",
    "grid_rating_current": "AC Input Current",
    "ac_output_rating_voltage": "AC Output Voltage",
    "ac_output_rating_frequency": "AC Output Frequency",
    "ac_output_rating_current": "AC Output Current",
    "ac_output_rating_apparent_power": "AC Output Apparent Power",
    "ac_output_rating_active_power": "AC Output Active Power",
    "battery_rating_voltage": "Battery Voltage",
    "battery_recharge_voltage": "Battery Recharge Voltage",
    "battery_under_voltage": "Battery Under Voltage",
    "battery_bulk_voltage": "Battery Bulk Charge Voltage",
    "battery_float_voltage": "Battery Float Charge Voltage",
    "max_ac_charging_current": "Max AC Charging Current",
    "max_charging_current": "Max Charging Current",
    "parallel_max_num": "Max Parallel Units",
    "battery_redischarge_voltage": "Battery Redischarge Voltage",
}
# mppsolar's pi30 labels of the codes, by our field and option id.
QPIRI_OPTION_LABELS: dict[str, tuple[str, dict[str, str]]] = {
    "battery_type": (
        "Battery Type",
        {
            "agm": "AGM",
            "user": "User",
            "weco": "WECO",
            "lic": "3rd party Lithium",
        },
    ),
    "input_voltage_range": (
        "Input Voltage Range",
        {"appliance": "Appliance", "ups": "UPS"},
    ),
    "output_source_priority": (
        "Output Source Priority",
        {"utility": "Utility first", "solar": "Solar first", "sbu": "SBU first"},
    ),
    "charger_source_priority": (
        "Charger Source Priority",
        {
            "utility": "Utility first",
            "solar": "Solar first",
            "solar_and_utility": "Solar + Utility",
        },
    ),
    "machine_type": ("Machine Type", {"off_grid": "Off Grid"}),
    "topology": (
        "Topology",
        {"transformerless": "transformerless", "transformer": "transformer"},
    ),
    "output_mode": (
        "Output Mode",
        {
            "single": "single machine output",
            "phase_2_of_2_120": "Phase 2 of 2 phase output",
        },
    ),
    "pv_ok_condition": (
        "PV OK Condition",
        {
            "any_inverter": "As long as one unit of inverters has connect PV,"
            " parallel system will consider PV OK"
        },
    ),
    "pv_power_balance": (
        "PV Power Balance",
        {
            "charge_current": "PV input max current will be the max charged current",
            "charge_and_load": "PV input max power will be the sum of the max"
            " charged power and loads power",
        },
    ),
    "operation_logic": ("Operation Logic", {"automatic": "Automatic mode"}),
}


def test_qpiri_decodes_as_mppsolar_decodes_it() -> None:
    decoded = 0
    for entry in _entries("QPIRI"):
        raw = _raw(entry)
        if raw.startswith(b"(NAK"):
            with pytest.raises(NakError):
                decode_response(raw, "QPIRI")
            continue
        payload = decode_response(raw, "QPIRI")
        ratings = parse_fields(payload, QPIRI)
        expected = _decoded(entry)
        for name, label in QPIRI_NUMBER_LABELS.items():
            if ratings[name] is None:
                # A dash is "not available"; mppsolar reads it as 0.
                assert payload.split()[list(QPIRI_NUMBER_LABELS).index(name)]
                assert expected[label] == 0
            else:
                assert ratings[name] == pytest.approx(expected[label]), name
        cv_time = expected.get(
            "Max charging time for CV stage",
            expected.get("Max Charging Time at CV Stage"),
        )
        assert ratings.get("max_cv_charging_time") == cv_time
        if entry in PROTOCOLS["pi30"]:
            for name, (label, options) in QPIRI_OPTION_LABELS.items():
                if name in ratings:
                    assert options[str(ratings[name])] == expected[label], name
        decoded += 1
    assert decoded == 8


def test_qpiri_variants_and_the_value_model() -> None:
    variants = [
        parse_fields(decode_response(_raw(entry)), QPIRI)
        for entry in _entries("QPIRI")
        if not _raw(entry).startswith(b"(NAK")
    ]
    by_count = {len(ratings): ratings for ratings in variants}
    assert sorted(len(ratings) for ratings in variants) == [
        25,
        25,
        25,
        25,
        26,
        26,
        27,
        28,
    ]
    assert by_count[28]["max_discharging_current"] == 70.0
    assert by_count[27]["operation_logic"] == "automatic"
    assert rating_values(by_count[28]) == {
        "battery_charge_voltage_limit": 54.0,
        "battery_discharge_voltage_limit": 42.0,
    }
    # A code no table knows yet is kept, not guessed.
    payload = decode_response(_raw(_entries("QPIRI")[0])).split()
    payload[16] = "7"
    assert parse_fields(" ".join(payload), QPIRI)["output_source_priority"] == "code 7"
    with pytest.raises(BadResponseError, match="24 fields, at least 25"):
        parse_fields(" ".join(payload[:24]), QPIRI)


MODE_LABELS = {
    InverterMode.POWER_ON: "Power on",
    InverterMode.STANDBY: "Standby",
    InverterMode.LINE: "Line",
    InverterMode.BATTERY: "Battery",
    InverterMode.FAULT: "Fault",
    InverterMode.POWER_SAVING: "Power saving",
    InverterMode.BYPASS: "Bypass",
}


def test_qmod_decodes_as_mppsolar_decodes_it() -> None:
    modes = []
    for entry in _entries("QMOD"):
        raw = _raw(entry)
        if not entry.get("crc_xmodem_pi_adjusted_valid"):
            continue
        mode = parse_mode(decode_response(raw, "QMOD"))
        assert MODE_LABELS[mode] == _decoded(entry)["Device Mode"]
        modes.append(mode_value(mode, None))
    assert modes == ["standby", "battery"]
    assert mode_value(InverterMode.SHUTDOWN, None) == "off"
    with pytest.raises(BadResponseError, match="no known mode"):
        parse_mode("X")


def test_qpiws_decodes_as_mppsolar_decodes_it() -> None:
    seen = []
    for entry in _entries("QPIWS"):
        warnings = parse_warnings(decode_response(_raw(entry), "QPIWS"))
        expected = {name for name, value in _decoded(entry).items() if value == "1"}
        named = {name for name in warnings.active if not name.startswith("bit ")}
        assert named == expected
        # Line fail and overload without an inverter fault: warnings only.
        assert not warnings.fault
        seen.append(warnings.active)
    assert ("Line fail warning", "Overload fault") in seen
    assert ("bit 0",) in seen


def test_a_fault_bit_makes_the_mode_fault() -> None:
    bits = ["0"] * 32
    bits[22] = "1"  # battery open: always a fault
    warnings = parse_warnings("".join(bits))
    assert warnings.fault
    assert mode_value(InverterMode.LINE, warnings) == "fault"
    assert mode_value(None, warnings) == "fault"
    # Over temperature is a fault only with the inverter fault bit.
    bits = ["0"] * 32
    bits[9] = "1"
    assert not parse_warnings("".join(bits)).fault
    bits[1] = "1"
    assert parse_warnings("".join(bits)).fault
    with pytest.raises(BadResponseError):
        parse_warnings("0" * 31)


FLAG_LABELS = {
    "buzzer": "Buzzer",
    "overload_bypass": "Overload Bypass",
    "power_saving": "Power Saving",
    "lcd_escape_to_default_page": "LCD Reset to Default",
    "overload_restart": "Overload Restart",
    "over_temperature_restart": "Over Temperature Restart",
    "backlight": "LCD Backlight",
    "primary_source_interrupt_alarm": "Primary Source Interrupt Alarm",
    "fault_code_record": "Record Fault Code",
}


def test_qflag_decodes_as_mppsolar_decodes_it() -> None:
    [entry] = _entries("QFLAG", ("pi30",))
    flags = parse_flags(decode_response(_raw(entry), "QFLAG"))
    expected = _decoded(entry)
    assert {FLAG_LABELS[name]: state for name, state in flags.items()} == {
        label: state == "enabled"
        for label, state in expected.items()
        if label in FLAG_LABELS.values()
    }
    assert parse_flags("EaqD") == {"buzzer": True, "flag_q": True}
    for bad in ("", "abc", "EA", "E1"):
        with pytest.raises(BadResponseError):
            parse_flags(bad)


def test_identity_answers_decode_as_mppsolar_decodes_them() -> None:
    for command, parse, label in (
        ("QID", parse_serial_number, "Serial Number"),
        ("QSID", parse_long_serial_number, "Serial Number"),
        ("QPI", parse_protocol_id, "Protocol ID"),
        ("QMN", parse_model_name, "Model Name"),
        ("QGMN", parse_model_code, "General Model Name"),
    ):
        entries = _entries(command)
        assert entries, command
        for entry in entries:
            assert parse(decode_response(_raw(entry))) == _decoded(entry)[label]
    for entry in _entries("QVFW"):
        version = parse_firmware(decode_response(_raw(entry)))
        assert f"VERFW:{version}" == _decoded(entry)["Main CPU firmware version"]
    [pi16] = _entries("QPI", ("pi16",))
    assert parse_protocol_id(decode_response(_raw(pi16))) == "PI16"


def test_charging_current_options_decode_as_mppsolar_decodes_them() -> None:
    [entry] = _entries("QMCHGCR", ("pi41",))
    options = parse_current_options(decode_response(_raw(entry)))
    assert options == tuple(_decoded(entry).values())
    assert options == tuple(range(10, 121, 10))
    [utility] = _entries("QMUCHGCR", ("pi30",))
    assert parse_current_options(decode_response(_raw(utility)))[:2] == (2, 10)


def test_every_captured_setter_answer_is_ack_or_nak() -> None:
    answers = {"ACK": 0, "NAK": 0}
    for command in ("POP", "PCP", "MCHGC", "MNCHGC", "MUCHGC", "PSDV", "PCVV", "PBFT"):
        for entry in _entries(command):
            try:
                assert decode_response(_raw(entry), command) == "ACK"
                answers["ACK"] += 1
            except NakError:
                answers["NAK"] += 1
    assert answers == {"ACK": 16, "NAK": 16}


# --- properties ------------------------------------------------------------

PARSERS = [
    lambda text: parse_fields(text, QPIGS),
    lambda text: parse_fields(text, QPIRI),
    parse_mode,
    parse_warnings,
    parse_flags,
    parse_protocol_id,
    parse_serial_number,
    parse_long_serial_number,
    parse_firmware,
    parse_model_name,
    parse_model_code,
    parse_current_options,
]

CAPTURED_FRAMES = [
    _raw(entry)
    for protocol in PI30_FRAMED
    for entry in PROTOCOLS[protocol]
    if entry.get("crc_xmodem_pi_adjusted_valid")
]


@given(st.binary(max_size=120))
def test_arbitrary_bytes_never_crash_the_decoder(raw: bytes) -> None:
    try:
        payload = decode_response(raw)
    except BadResponseError, DeviceRejectedError:
        return
    # Whatever decodes carries its CRC.
    assert raw[-3:-1] == pi_crc(raw[:-3])
    assert payload.isascii()


@given(st.text(max_size=200), st.sampled_from(PARSERS))
def test_arbitrary_text_never_crashes_a_parser(text: str, parse: Any) -> None:
    with contextlib.suppress(BadResponseError):
        parse(text)


@given(
    st.lists(
        st.sampled_from(["0", "1", "57.50", "---.-", "-", "00110110", "A", ""]),
        max_size=30,
    )
)
def test_field_soup_never_crashes_the_tables(fields: list[str]) -> None:
    for layout in (QPIGS, QPIRI):
        with contextlib.suppress(BadResponseError):
            status_values(parse_fields(" ".join(fields), layout))


@settings(deadline=None)
@given(st.sampled_from(CAPTURED_FRAMES), st.data())
def test_a_frame_with_a_bad_crc_never_decodes(raw: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(raw) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]))
    damaged = raw[:index] + bytes([replacement]) + raw[index + 1 :]
    # A damage that happens to leave a valid frame (one in tens of
    # thousands: the CRC rule maps two CRC bytes onto one) is a valid frame.
    assume(damaged[-3:-1] != pi_crc(damaged[:-3]) or not damaged.endswith(b"\r"))
    with pytest.raises(BadResponseError):
        decode_response(damaged)


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120
    )
)
def test_every_printable_payload_goes_through(payload: str) -> None:
    assume(payload != "NAK")
    frame = encode_response(payload)
    assert frame_end(frame) == len(frame)
    assert decode_response(frame) == payload
