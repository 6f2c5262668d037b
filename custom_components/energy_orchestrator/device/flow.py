"""The device part of the config flow: the forms, and the probe behind them.

A device is added in two forms: its family, among those that can be reached
the way the user chose (the network, a serial port or a CAN bus), then how
it is reached, with that family's defaults and help. It is read once before
it is added; its identity becomes the entry's.
"""

from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    SerialPortSelector,
    TextSelector,
    TextSelectorConfig,
)
import probatio

from ..const import (
    CONF_BAUDRATE,
    CONF_BITRATE,
    CONF_CHANNEL,
    CONF_CONNECTION,
    CONF_FAMILY,
    CONF_FRAMING,
    CONF_INTERFACE,
    CONF_KEEPALIVE,
    CONF_KIND,
    CONF_REGISTER_MAP,
    CONF_UNIT_ID,
    CONNECTION_CAN,
    CONNECTION_SERIAL,
    CONNECTION_TCP,
    FRAMING_RTU_OVER_TCP,
    FRAMING_TCP,
    KIND_DEVICE,
    LOGGER,
)
from ..lib.drivers.base import Driver
from ..lib.drivers.errors import (
    DeviceError,
    DeviceSilentError,
    LinkError,
    LinkSettingsConflictError,
    WrongDeviceError,
)
from ..lib.drivers.families import (
    FAMILIES,
    AddressKind,
    Family,
    Protocol,
    Transport,
    build_can_driver,
    build_driver,
    families_reached_over,
)
from ..lib.drivers.transport.can_link import INTERFACES
from ..lib.drivers.values import Identity
from .coordinator import DeviceConfigEntry
from .links import (
    ProbeLinks,
    endpoint_from_data,
    link_settings_clash,
)

SECTION_MORE_OPTIONS = "more_options"


def _box(minimum: int, maximum: int) -> Any:
    """Return an integer entry box validated to a range."""
    return probatio.All(
        NumberSelector(
            NumberSelectorConfig(
                min=minimum, max=maximum, step=1, mode=NumberSelectorMode.BOX
            )
        ),
        probatio.Coerce(int),
    )


# The menu's two ways of reaching a device, and the families that fit each.
TRANSPORTS: Mapping[str, Transport] = {
    CONNECTION_TCP: Transport.NETWORK,
    CONNECTION_SERIAL: Transport.SERIAL,
    CONNECTION_CAN: Transport.CAN,
}

# Only the generic family reads one: the register map a user wrote.
REGISTER_MAP_SELECTOR = TextSelector(TextSelectorConfig(multiline=True))

# python-can's interfaces users have; another one can be typed in.
INTERFACE_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=list(INTERFACES),
        translation_key=CONF_INTERFACE,
        custom_value=True,
    )
)

FRAMING_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[FRAMING_TCP, FRAMING_RTU_OVER_TCP], translation_key=CONF_FRAMING
    )
)


def family_schema(connection_type: str) -> probatio.Schema:
    """Return the first form: which family, of those reached this way.

    The frontend lists them by their translated names. The field is optional
    only so that no family is chosen before the user chooses one (a required
    list starts on its first entry); the step refuses the form without one.
    """
    families = families_reached_over(TRANSPORTS[connection_type])
    return probatio.Schema(
        {
            probatio.Optional(CONF_FAMILY): SelectSelector(
                SelectSelectorConfig(
                    options=[family.id for family in families],
                    translation_key=CONF_FAMILY,
                    mode=SelectSelectorMode.LIST,
                    sort=True,
                )
            )
        }
    )


def connection_schema(connection_type: str, family: Family) -> probatio.Schema:
    """Return the second form: how a device of the family is reached.

    Defaults are the family's (port, baud rate, address). Most devices answer
    on their factory address and plain Modbus TCP, so those settings wait in
    a collapsed section; a device without an address has no such field.
    """
    if connection_type == CONNECTION_CAN:
        return can_schema(family)
    fields: dict[Any, Any] = {}
    more_options: dict[Any, Any] = {}
    if connection_type == CONNECTION_TCP:
        fields[probatio.Required(CONF_HOST)] = TextSelector()
        fields[probatio.Required(CONF_PORT, default=family.default_port)] = _box(
            1, 65535
        )
    else:
        # A device path, or a pyserial URL (socket://, rfc2217://) for a bus
        # on another machine behind ser2net.
        fields[probatio.Required(CONF_DEVICE)] = SerialPortSelector()
        fields[probatio.Required(CONF_BAUDRATE, default=family.default_baudrate)] = (
            _box(300, 4000000)
        )
    if family.needs_register_map:
        fields[probatio.Required(CONF_REGISTER_MAP)] = REGISTER_MAP_SELECTOR
    if family.address is not None:
        more_options[
            probatio.Required(family.address.value, default=family.default_unit)
        ] = _box(*family.address_range)
    if connection_type == CONNECTION_TCP:
        more_options[probatio.Required(CONF_FRAMING, default=FRAMING_TCP)] = (
            FRAMING_SELECTOR
        )
    if more_options:
        fields[probatio.Required(SECTION_MORE_OPTIONS)] = section(
            probatio.Schema(more_options), {"collapsed": True}
        )
    return probatio.Schema(fields)


def can_schema(family: Family) -> probatio.Schema:
    """Return the form of a battery on a CAN bus: python-can's bus, the keep-alive.

    The keep-alive is for a battery that waits for an inverter: off on a bus
    that has one, so it waits in the collapsed section.
    """
    return probatio.Schema(
        {
            probatio.Required(CONF_INTERFACE, default=INTERFACES[0]): (
                INTERFACE_SELECTOR
            ),
            probatio.Required(CONF_CHANNEL): TextSelector(),
            probatio.Required(CONF_BITRATE, default=family.default_bitrate): _box(
                10000, 1000000
            ),
            probatio.Required(SECTION_MORE_OPTIONS): section(
                probatio.Schema(
                    {
                        probatio.Required(
                            CONF_KEEPALIVE, default=False
                        ): BooleanSelector()
                    }
                ),
                {"collapsed": True},
            ),
        }
    )


def form_placeholders(family: Family) -> dict[str, str]:
    """Return what the connection form's texts say of the family."""
    minimum, maximum = family.address_range
    return {
        "family": family.name,
        "port": str(family.default_port),
        "baudrate": str(family.default_baudrate),
        "address": str(family.default_unit),
        "address_min": str(minimum),
        "address_max": str(maximum),
        "bitrate": str(family.default_bitrate),
        "error": "",
    }


def flatten(
    connection_type: str, family: Family, user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """Turn the connection form's input into config entry data."""
    data = {
        CONF_KIND: KIND_DEVICE,
        CONF_CONNECTION: connection_type,
        CONF_FAMILY: family.id,
        **user_input,
    }
    more_options = dict(data.pop(SECTION_MORE_OPTIONS, {}))
    if connection_type == CONNECTION_CAN:
        data[CONF_CHANNEL] = data[CONF_CHANNEL].strip()
        data[CONF_INTERFACE] = data[CONF_INTERFACE].strip()
        return {**data, **more_options, CONF_UNIT_ID: family.default_unit}
    data[CONF_UNIT_ID] = (
        family.default_unit
        if family.address is None
        else more_options.pop(family.address.value)
    )
    data.update(more_options)
    if connection_type == CONNECTION_TCP:
        # One connection is shared per host and port, so spelling matters.
        data[CONF_HOST] = data[CONF_HOST].strip().lower()
    else:
        data[CONF_DEVICE] = data[CONF_DEVICE].strip()
    return data


def sectioned(data: Mapping[str, Any]) -> dict[str, Any]:
    """Shape config entry data back into the connection form."""
    family = FAMILIES[data[CONF_FAMILY]]
    if family.protocol is Protocol.CAN:
        return {
            **{k: data[k] for k in (CONF_INTERFACE, CONF_CHANNEL, CONF_BITRATE)},
            SECTION_MORE_OPTIONS: {CONF_KEEPALIVE: data.get(CONF_KEEPALIVE, False)},
        }
    more_options = {k: data[k] for k in (CONF_FRAMING,) if k in data}
    if family.address is not None:
        more_options[family.address.value] = data[CONF_UNIT_ID]
    return {
        **{
            k: data[k]
            for k in (CONF_HOST, CONF_PORT, CONF_DEVICE, CONF_BAUDRATE)
            if k in data
        },
        **{k: data[k] for k in (CONF_REGISTER_MAP,) if k in data},
        SECTION_MORE_OPTIONS: more_options,
    }


async def async_probe(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    errors: dict[str, str],
    placeholders: dict[str, str],
) -> Identity | None:
    """Probe the device; fill ``errors`` and return None when that fails.

    Its links are given back after the probe: a Modbus unit is a temporary
    hold on Home Assistant's shared connection, which stays up while an
    entry holds it too.
    """
    family = FAMILIES[data[CONF_FAMILY]]
    if family.protocol is Protocol.CAN:
        return await _async_probe_can(family, data, errors, placeholders)
    try:
        endpoint = endpoint_from_data(data)
    except ValueError as err:
        errors["base"] = "invalid_address"
        placeholders["error"] = str(err)
        return None
    async with AsyncExitStack() as stack:
        try:
            driver = build_driver(
                ProbeLinks(hass, stack),
                family,
                endpoint,
                data[CONF_UNIT_ID],
                data.get(CONF_REGISTER_MAP),
            )
        except ValueError as err:
            errors["base"] = (
                "invalid_register_map"
                if family.needs_register_map
                else "invalid_address"
            )
            placeholders["error"] = str(err)
            return None
        except LinkSettingsConflictError as err:
            errors["base"] = "bus_settings_conflict"
            placeholders["error"] = str(err)
            return None
        return await _async_identify(driver, family, data, errors, placeholders)


async def _async_probe_can(
    family: Family,
    data: Mapping[str, Any],
    errors: dict[str, str],
    placeholders: dict[str, str],
) -> Identity | None:
    """Listen to the CAN bus for the battery's frames; close the bus after."""
    driver = build_can_driver(
        family,
        data[CONF_INTERFACE],
        data[CONF_CHANNEL],
        data[CONF_BITRATE],
        keepalive=data.get(CONF_KEEPALIVE, False),
    )
    try:
        return await _async_identify(driver, family, data, errors, placeholders)
    finally:
        await driver.link.close()


async def _async_identify(
    driver: Driver,
    family: Family,
    data: Mapping[str, Any],
    errors: dict[str, str],
    placeholders: dict[str, str],
) -> Identity | None:
    """Identify the device; fill ``errors`` and return None when that fails."""
    try:
        return await driver.async_identify()
    except LinkSettingsConflictError as err:
        errors["base"] = "bus_settings_conflict"
        placeholders["error"] = str(err)
    except DeviceSilentError as err:
        errors["base"] = _silence_error(family)
        placeholders["error"] = f"{err}{silence_hint(family, data)}"
    except LinkError as err:
        can = family.protocol is Protocol.CAN
        errors["base"] = "can_unusable" if can else "cannot_connect"
        placeholders["error"] = str(err)
    except WrongDeviceError as err:
        errors["base"] = "wrong_device"
        placeholders["error"] = str(err)
    except DeviceError as err:
        # Something answered, but not as the family does (an echo, noise).
        errors["base"] = "device_rejected"
        placeholders["error"] = str(err)
    except Exception as err:
        LOGGER.exception("Unexpected error probing %s", driver.link.endpoint)
        errors["base"] = "unknown"
        placeholders["error"] = str(err)
    return None


# The error a silent device gets: the unit ID, an address, or nothing to blame.
_SILENCE: Mapping[AddressKind | None, str] = {
    AddressKind.MODBUS_UNIT: "no_response",
    AddressKind.PACK: "no_response_at_address",
    AddressKind.BMS: "no_response_at_address",
    None: "no_answer",
}


def _silence_error(family: Family) -> str:
    """Return the error of a silent device: its address, or a quiet CAN bus."""
    if family.protocol is Protocol.CAN:
        return "no_can_frames"
    return _SILENCE[family.address]


def silence_hint(family: Family, data: Mapping[str, Any]) -> str:
    """Return the likeliest causes of a silent device, to add to the error.

    The address, for a pack or BMS (a Modbus unit ID is what the error itself
    names); the line speed, on a serial bus.
    """
    hints = [
        hint
        for hint in (_address_hint(family), _baudrate_hint(family, data))
        if hint is not None
    ]
    return f" ({'; '.join(hints)})" if hints else ""


def _address_hint(family: Family) -> str | None:
    """Return where a pack's or a BMS's address is set."""
    if family.address is AddressKind.PACK:
        return (
            "check the address on the master pack's DIP switches;"
            f" inverters use {family.default_unit}"
        )
    if family.address is AddressKind.BMS:
        return (
            f"check the BMS's address; {family.default_unit} for a BMS alone on its bus"
        )
    return None


def _baudrate_hint(family: Family, data: Mapping[str, Any]) -> str | None:
    """Return the line speed to check, where a wrong one can be the cause.

    A serial port runs at the form's baud rate; through ser2net (socket://)
    ser2net's own setting applies and the form's is not used. A CAN bus has
    its bitrate, and a battery there may wait for the keep-alive.
    """
    if data[CONF_CONNECTION] == CONNECTION_CAN:
        return (
            f"a battery talks at {family.default_bitrate} bit/s (on socketcan the"
            " interface's own bitrate applies: ip link); a battery alone on the"
            " bus may wait for the inverter's keep-alive (More options)"
        )
    if data[CONF_CONNECTION] != CONNECTION_SERIAL:
        return None
    usual = f"{family.name} usually runs at {family.default_baudrate} baud"
    if data[CONF_DEVICE].lower().startswith("socket://"):
        return f"ser2net sets the line speed, and {usual}"
    if data[CONF_BAUDRATE] != family.default_baudrate:
        return f"{usual}, not {data[CONF_BAUDRATE]}"
    return None


def needs_relink(entry: DeviceConfigEntry, data: Mapping[str, Any]) -> bool:
    """Return whether probing ``data`` clashes with the entry's own open link."""
    if entry.state not in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
        return False
    return link_settings_clash(entry.data, data)
