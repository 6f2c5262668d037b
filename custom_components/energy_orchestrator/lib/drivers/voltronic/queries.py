"""What the PI30 queries answer: field tables and parsers over payload text.

Field order, units and codes follow Voltronic's PI30 protocol documents (the
HS/MS/MSX document of 2014, the customer document of 2015 and the MAX
document of 2021), cross-checked against the command definitions of PyPI
mppsolar 0.16.56 (MIT) and against its captured device answers.

Firmware families answer with more or fewer fields, always in the same
order: QPIGS has 17 fields on HS/MS/MSX firmware, 21 on later PI30 firmware
and 24 on MAX; QPIRI has 25, 26, 27 or 28. A table lists every field known
at its position and how many a valid answer has at least; fields past the
end of the table are ignored (a newer firmware's additions), an answer with
fewer than the minimum is an error. A field that does not parse as what its
position holds makes the whole answer an error: a frame with a CRC can
still come from firmware that means something else, and a partial record
would show wrong numbers. A field of dashes (``-``, ``---.-``) is the
firmware's "not available" and reads as absent.

Parsers take the payload text (``codec.decode_response`` checked the frame)
and raise BadResponseError for anything else; they never raise another
exception, whatever the text.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
import re

from ..errors import BadResponseError

type FieldValue = float | str | None
type Record = Mapping[str, FieldValue]

# ASCII only: str.isdigit and a bare \d take digits of other scripts, which
# no inverter sends and int() may refuse.
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?")
_NOT_AVAILABLE = re.compile(r"-[-.]*")
_BITS = re.compile(r"[01]+")
_CODE = re.compile(r"[0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")


class FieldKind(StrEnum):
    """How a field's text is read."""

    NUMBER = "number"  # a decimal number in the field's unit
    BITS = "bits"  # a string of 0 and 1, one flag each
    CODE = "code"  # a code from a list (battery type, priorities)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an answer, at its position.

    ``options`` maps a CODE field's codes to stable ids; a code not listed
    reads as ``"code <text>"`` (a firmware newer than the tables), which no
    command option equals. ``bits`` names a BITS field's flags, first
    character first.
    """

    name: str
    kind: FieldKind = FieldKind.NUMBER
    unit: str = ""
    options: Mapping[str, str] | None = None
    bits: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Layout:
    """The fields of one query's answer, and how many it has at least."""

    query: str
    fields: tuple[Field, ...]
    min_fields: int


def _number(name: str, unit: str) -> Field:
    """Return a number field."""
    return Field(name, FieldKind.NUMBER, unit)


def _code(name: str, options: Mapping[str, str]) -> Field:
    """Return a code field."""
    return Field(name, FieldKind.CODE, options=options)


def _bits(name: str, *bits: str) -> Field:
    """Return a field of flags."""
    return Field(name, FieldKind.BITS, bits=bits)


DEVICE_STATUS_BITS: tuple[str, ...] = (
    "sbu_priority_version",
    "configuration_changed",
    "scc_firmware_updated",
    "load_on",
    "battery_voltage_steady_while_charging",
    "charging_on",
    "scc_charging_on",
    "ac_charging_on",
)

QPIGS = Layout(
    "QPIGS",
    (
        _number("grid_voltage", "V"),
        _number("grid_frequency", "Hz"),
        _number("ac_output_voltage", "V"),
        _number("ac_output_frequency", "Hz"),
        _number("ac_output_apparent_power", "VA"),
        _number("ac_output_active_power", "W"),
        _number("ac_output_load", "%"),
        _number("bus_voltage", "V"),
        _number("battery_voltage", "V"),
        _number("battery_charging_current", "A"),
        _number("battery_capacity", "%"),
        _number("heat_sink_temperature", "°C"),
        # The vendor's "PV input current for battery": on PI30 firmware the
        # current the solar charger drives into the battery (the captured
        # 14 A at 57.45 V match the 856 W reported, not 14 A at 103.8 V).
        _number("pv_input_current_for_battery", "A"),
        _number("pv_input_voltage", "V"),
        _number("battery_voltage_from_scc", "V"),
        _number("battery_discharge_current", "A"),
        _bits("device_status", *DEVICE_STATUS_BITS),
        # 21-field firmware (2015 document) from here.
        _number("battery_voltage_offset_for_fans", "10 mV"),
        _code("eeprom_version", {}),
        _number("pv_charging_power", "W"),
        _bits("device_status_2", "charging_to_float", "switched_on", "dustproof"),
        # MAX firmware (2021 document) from here: reserved features.
        _code("solar_feed_to_grid_status", {"0": "normal", "1": "feeding"}),
        _code(
            "country_regulation", {"00": "india", "01": "germany", "02": "s_america"}
        ),
        _number("solar_feed_to_grid_power", "W"),
    ),
    min_fields=17,
)

OUTPUT_SOURCE_PRIORITIES: Mapping[str, str] = {"0": "utility", "1": "solar", "2": "sbu"}
CHARGER_SOURCE_PRIORITIES: Mapping[str, str] = {
    "0": "utility",
    "1": "solar",
    "2": "solar_and_utility",
    "3": "solar_only",
}
BATTERY_TYPES: Mapping[str, str] = {
    "0": "agm",
    "1": "flooded",
    "2": "user",
    "3": "pylontech",
    "4": "shinheung",
    "5": "weco",
    "6": "soltaro",
    "7": "bak",
    "8": "lib",
    "9": "lic",
}

QPIRI = Layout(
    "QPIRI",
    (
        _number("grid_rating_voltage", "V"),
        _number("grid_rating_current", "A"),
        _number("ac_output_rating_voltage", "V"),
        _number("ac_output_rating_frequency", "Hz"),
        _number("ac_output_rating_current", "A"),
        _number("ac_output_rating_apparent_power", "VA"),
        _number("ac_output_rating_active_power", "W"),
        _number("battery_rating_voltage", "V"),
        _number("battery_recharge_voltage", "V"),
        _number("battery_under_voltage", "V"),
        _number("battery_bulk_voltage", "V"),
        _number("battery_float_voltage", "V"),
        _code("battery_type", BATTERY_TYPES),
        _number("max_ac_charging_current", "A"),
        _number("max_charging_current", "A"),
        _code("input_voltage_range", {"0": "appliance", "1": "ups"}),
        _code("output_source_priority", OUTPUT_SOURCE_PRIORITIES),
        _code("charger_source_priority", CHARGER_SOURCE_PRIORITIES),
        _number("parallel_max_num", ""),
        _code(
            "machine_type",
            {
                "00": "grid_tie",
                "01": "off_grid",
                "10": "hybrid",
                "11": "off_grid_2_trackers",
                "20": "off_grid_3_trackers",
            },
        ),
        _code("topology", {"0": "transformerless", "1": "transformer"}),
        _code(
            "output_mode",
            {
                "0": "single",
                "1": "parallel",
                "2": "phase_1_of_3",
                "3": "phase_2_of_3",
                "4": "phase_3_of_3",
                "5": "phase_1_of_2",
                "6": "phase_2_of_2_120",
                "7": "phase_2_of_2_180",
            },
        ),
        _number("battery_redischarge_voltage", "V"),
        _code("pv_ok_condition", {"0": "any_inverter", "1": "all_inverters"}),
        _code("pv_power_balance", {"0": "charge_current", "1": "charge_and_load"}),
        # Later firmware from here.
        _number("max_cv_charging_time", "min"),
        _code("operation_logic", {"0": "automatic", "1": "online", "2": "eco"}),
        _number("max_discharging_current", "A"),
    ),
    min_fields=25,
)


def _field_value(field: Field, text: str, query: str) -> FieldValue:
    """Return one field's value; raise BadResponseError when it is not one."""
    if _NOT_AVAILABLE.fullmatch(text):
        return None
    match field.kind:
        case FieldKind.NUMBER:
            if _NUMBER.fullmatch(text):
                return float(text)
        case FieldKind.BITS:
            if _BITS.fullmatch(text):
                return text
        case FieldKind.CODE:
            if _CODE.fullmatch(text):
                options = field.options or {}
                # "0" and "00" are one code where the table knows the code
                # by one width and firmware sends another.
                if text in options:
                    return options[text]
                for code, option in options.items():
                    if (
                        _DIGITS.fullmatch(code)
                        and _DIGITS.fullmatch(text)
                        and int(code) == int(text)
                    ):
                        return option
                return text if not options else f"code {text}"
    raise BadResponseError(f"{query}: {field.name} is {text!r}, not a {field.kind}")


def parse_fields(payload: str, layout: Layout) -> dict[str, FieldValue]:
    """Return the fields of a space-separated answer by name.

    Fields past the table are ignored; too few fields, or a field that is not
    what its position holds, raise BadResponseError.
    """
    texts = payload.split()
    if len(texts) < layout.min_fields:
        raise BadResponseError(
            f"{layout.query} answer has {len(texts)} fields, at least"
            f" {layout.min_fields} expected"
        )
    return {
        field.name: _field_value(field, text, layout.query)
        for field, text in zip(layout.fields, texts, strict=False)
    }


def flags_set(value: FieldValue, names: Sequence[str]) -> dict[str, bool]:
    """Return the named flags of a BITS value (first character first)."""
    if not isinstance(value, str):
        return {}
    return {name: bit == "1" for name, bit in zip(names, value, strict=False)}


class InverterMode(StrEnum):
    """The modes QMOD reports, by their letter."""

    POWER_ON = "P"
    STANDBY = "S"
    LINE = "L"
    BATTERY = "B"
    FAULT = "F"
    POWER_SAVING = "H"
    SHUTDOWN = "D"  # MAX firmware
    BYPASS = "Y"  # some firmware, per mppsolar


# The value model's inverter_mode for each QMOD letter. "Shutdown mode" (D)
# is a state the inverter stays in with its output off, not a transition,
# so it reads as "off"; power saving (H) idles the inverter until a load
# appears, "sleeping".
MODE_OPTIONS: Mapping[InverterMode, str] = {
    InverterMode.POWER_ON: "starting",
    InverterMode.STANDBY: "standby",
    InverterMode.LINE: "grid",
    InverterMode.BATTERY: "battery",
    InverterMode.FAULT: "fault",
    InverterMode.POWER_SAVING: "sleeping",
    InverterMode.SHUTDOWN: "off",
    InverterMode.BYPASS: "bypass",
}


def parse_mode(payload: str) -> InverterMode:
    """Return the mode of a QMOD answer (one letter)."""
    text = payload.strip()
    try:
        return InverterMode(text)
    except ValueError:
        raise BadResponseError(f"QMOD answer {payload!r} is no known mode") from None


class Severity(StrEnum):
    """What a warning bit means for the inverter."""

    WARNING = "warning"
    FAULT = "fault"
    # A fault when the inverter fault bit is set too, a warning otherwise.
    FAULT_WITH_INVERTER_FAULT = "fault_with_inverter_fault"


@dataclass(frozen=True, slots=True)
class WarningBit:
    """One position of the QPIWS answer."""

    name: str
    severity: Severity = Severity.WARNING


_W = Severity.WARNING
_F = Severity.FAULT
_C = Severity.FAULT_WITH_INVERTER_FAULT

# QPIWS positions from the first character (the documents' a0 or b1). Names
# are mppsolar's (pi30), so support threads and mppsolar output read alike;
# severities are the 2015 document's. Position 0 is reserved on PI30 (PV loss
# on MAX); positions past 29 differ between firmware families (second and
# third charger on some, battery weak and fault codes on MAX) and are kept
# as numbered bits.
WARNING_BITS: tuple[WarningBit | None, ...] = (
    None,
    WarningBit("Inverter fault", _F),
    WarningBit("Bus over fault", _F),
    WarningBit("Bus under fault", _F),
    WarningBit("Bus soft fail fault", _F),
    WarningBit("Line fail warning", _W),
    WarningBit("OPV short warning", _W),
    WarningBit("Inverter voltage too low fault", _F),
    WarningBit("Inverter voltage too high fault", _F),
    WarningBit("Over temperature fault", _C),
    WarningBit("Fan locked fault", _C),
    WarningBit("Battery voltage too high fault", _C),
    WarningBit("Battery low alarm warning", _W),
    None,
    WarningBit("Battery under shutdown warning", _W),
    None,
    WarningBit("Overload fault", _C),
    WarningBit("EEPROM fault", _W),
    WarningBit("Inverter over current fault", _F),
    WarningBit("Inverter soft fail fault", _F),
    WarningBit("Self test fail fault", _F),
    WarningBit("OP DC voltage over fault", _F),
    WarningBit("Battery open fault", _F),
    WarningBit("Current sensor fail fault", _F),
    WarningBit("Battery short fault", _F),
    WarningBit("Power limit warning", _W),
    WarningBit("PV voltage high warning", _W),
    WarningBit("MPPT overload fault", _W),
    WarningBit("MPPT overload warning", _W),
    WarningBit("Battery too low to charge warning", _W),
)
# Every PI30 firmware sends at least a0..a31.
MIN_WARNING_BITS = 32
_INVERTER_FAULT_BIT = 1


@dataclass(frozen=True, slots=True)
class Warnings:
    """The decoded QPIWS answer."""

    bits: str
    # The set bits by name ("bit 31" for one without a name).
    active: tuple[str, ...]
    # Whether a set bit is a fault: the inverter has stopped or will.
    fault: bool


def parse_warnings(payload: str) -> Warnings:
    """Return the warnings of a QPIWS answer."""
    bits = payload.strip()
    if not _BITS.fullmatch(bits) or len(bits) < MIN_WARNING_BITS:
        raise BadResponseError(f"QPIWS answer {payload!r} is not a row of bits")
    inverter_fault = bits[_INVERTER_FAULT_BIT] == "1"
    active: list[str] = []
    fault = False
    for index, bit in enumerate(bits):
        if bit != "1":
            continue
        known = WARNING_BITS[index] if index < len(WARNING_BITS) else None
        if known is None:
            active.append(f"bit {index}")
            continue
        active.append(known.name)
        if known.severity is Severity.FAULT or (
            known.severity is Severity.FAULT_WITH_INVERTER_FAULT and inverter_fault
        ):
            fault = True
    return Warnings(bits, tuple(active), fault)


# QFLAG letters; the documents print them upper case, devices send lower.
FLAG_NAMES: Mapping[str, str] = {
    "a": "buzzer",
    "b": "overload_bypass",
    "d": "solar_feed_to_grid",
    "j": "power_saving",
    "k": "lcd_escape_to_default_page",
    "l": "data_log_popup",
    "u": "overload_restart",
    "v": "over_temperature_restart",
    "x": "backlight",
    "y": "primary_source_interrupt_alarm",
    "z": "fault_code_record",
}


def parse_flags(payload: str) -> dict[str, bool]:
    """Return the enabled (True) and disabled (False) flags of a QFLAG answer.

    The answer is ``E`` and the enabled flags' letters, then ``D`` and the
    disabled ones' (``EakxyDbjuvz``). A letter no table knows keeps its
    letter (``flag_q``).
    """
    text = payload.strip()
    flags: dict[str, bool] = {}
    state: bool | None = None
    for char in text:
        if char in "ED":
            state = char == "E"
        elif char.isascii() and char.isalpha() and char.islower() and state is not None:
            flags[FLAG_NAMES.get(char, f"flag_{char}")] = state
        else:
            raise BadResponseError(f"QFLAG answer {payload!r} is not E...D...")
    if state is None:
        raise BadResponseError(f"QFLAG answer {payload!r} is not E...D...")
    return flags


_PROTOCOL_ID = re.compile(r"PI[0-9][0-9]")
_SERIAL = re.compile(r"[0-9A-Za-z]+")
_SHORT_SERIAL = re.compile(r"([0-9][0-9])([0-9A-Za-z]+)")
_FIRMWARE = re.compile(r"VERFW[0-9]?: *([0-9A-Fa-f]+\.[0-9A-Fa-f]+)")
_MODEL_NAME = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def parse_protocol_id(payload: str) -> str:
    """Return the protocol id of a QPI answer (``"PI30"``)."""
    match = _PROTOCOL_ID.fullmatch(payload.strip())
    if match is None:
        raise BadResponseError(f"QPI answer {payload!r} is no protocol id")
    return match.group(0)


def parse_serial_number(payload: str) -> str:
    """Return the serial number of a QID answer."""
    text = payload.strip()
    if not _SERIAL.fullmatch(text):
        raise BadResponseError(f"QID answer {payload!r} is no serial number")
    return text


def parse_long_serial_number(payload: str) -> str:
    """Return the serial number of a QSID answer (``NN`` digits valid, then 20).

    Only the first NN characters are the serial number; the rest is padding.
    """
    match = _SHORT_SERIAL.fullmatch(payload.strip())
    if match is None:
        raise BadResponseError(f"QSID answer {payload!r} is no serial number")
    length = int(match.group(1))
    serial = match.group(2)
    if not 0 < length <= len(serial):
        raise BadResponseError(f"QSID answer {payload!r} has a bad length")
    return serial[:length]


def parse_model_code(payload: str) -> str:
    """Return the numeric model code of a QGMN answer (``044``)."""
    text = payload.strip()
    if not _SERIAL.fullmatch(text):
        raise BadResponseError(f"QGMN answer {payload!r} is no model code")
    return text


def parse_firmware(payload: str) -> str:
    """Return the version of a QVFW answer (``VERFW:00072.70`` → ``00072.70``)."""
    match = _FIRMWARE.fullmatch(payload.strip())
    if match is None:
        raise BadResponseError(f"QVFW answer {payload!r} is no firmware version")
    return match.group(1)


def parse_model_name(payload: str) -> str:
    """Return the model name of a QMN answer (``MKS2-8000``)."""
    text = payload.strip()
    if not _MODEL_NAME.fullmatch(text):
        raise BadResponseError(f"QMN answer {payload!r} is no model name")
    return text


def parse_current_options(payload: str) -> tuple[int, ...]:
    """Return the selectable currents of a QMCHGCR answer, ascending, in A."""
    texts = payload.split()
    if not texts or not all(_DIGITS.fullmatch(text) for text in texts):
        raise BadResponseError(f"QMCHGCR answer {payload!r} is not a list of amperes")
    return tuple(sorted({int(text) for text in texts}))
