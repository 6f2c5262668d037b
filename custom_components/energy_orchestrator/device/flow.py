"""The device part of the config flow: the link forms, and the probe behind them.

A device is added by how it is reached (a host and port, or a serial port)
and read once before it is added; its identity becomes the entry's.
"""

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
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
    CONF_CONNECTION,
    CONF_FAMILY,
    CONF_FRAMING,
    CONF_KIND,
    CONF_REGISTER_MAP,
    CONF_UNIT_ID,
    CONNECTION_TCP,
    DEFAULT_BAUDRATE,
    DEFAULT_PORT,
    DEFAULT_UNIT_ID,
    FRAMING_RTU_OVER_TCP,
    FRAMING_TCP,
    KIND_DEVICE,
    LOGGER,
)
from ..lib.drivers.errors import (
    DeviceSilentError,
    LinkError,
    LinkSettingsConflictError,
    WrongDeviceError,
)
from ..lib.drivers.families import FAMILIES, Protocol, build_driver
from ..lib.drivers.values import Identity
from .coordinator import DeviceConfigEntry
from .links import async_get_link_pool, endpoint_from_data

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


def _family_selector(*protocols: Protocol) -> SelectSelector:
    """Return a dropdown of the families that speak one of these protocols."""
    return SelectSelector(
        SelectSelectorConfig(
            options=sorted(f.id for f in FAMILIES.values() if f.protocol in protocols),
            translation_key=CONF_FAMILY,
            mode=SelectSelectorMode.DROPDOWN,
        )
    )


# Only the generic family reads one: the register map a user wrote.
REGISTER_MAP_SELECTOR = TextSelector(TextSelectorConfig(multiline=True))

# Most devices answer on their factory unit id and plain Modbus TCP, so those
# settings wait in a collapsed section. Over the network, Modbus; a raw serial
# protocol through ser2net is reached as a serial port with a socket:// URL.
STEP_TCP = probatio.Schema(
    {
        probatio.Required(CONF_FAMILY): _family_selector(Protocol.MODBUS),
        probatio.Required(CONF_HOST): TextSelector(),
        probatio.Required(CONF_PORT, default=DEFAULT_PORT): _box(1, 65535),
        probatio.Required(SECTION_MORE_OPTIONS): section(
            probatio.Schema(
                {
                    probatio.Required(CONF_UNIT_ID, default=DEFAULT_UNIT_ID): _box(
                        1, 247
                    ),
                    probatio.Required(
                        CONF_FRAMING, default=FRAMING_TCP
                    ): SelectSelector(
                        SelectSelectorConfig(
                            options=[FRAMING_TCP, FRAMING_RTU_OVER_TCP],
                            translation_key=CONF_FRAMING,
                        )
                    ),
                    probatio.Optional(CONF_REGISTER_MAP): REGISTER_MAP_SELECTOR,
                }
            ),
            {"collapsed": True},
        ),
    }
)

STEP_SERIAL = probatio.Schema(
    {
        probatio.Required(CONF_FAMILY): _family_selector(
            Protocol.MODBUS, Protocol.SERIAL
        ),
        # A device path, or a pyserial URL (socket://, rfc2217://) for a bus
        # on another machine behind ser2net.
        probatio.Required(CONF_DEVICE): SerialPortSelector(),
        probatio.Required(CONF_BAUDRATE, default=DEFAULT_BAUDRATE): _box(300, 4000000),
        probatio.Required(SECTION_MORE_OPTIONS): section(
            probatio.Schema(
                {
                    probatio.Required(CONF_UNIT_ID, default=DEFAULT_UNIT_ID): _box(
                        1, 247
                    ),
                    probatio.Optional(CONF_REGISTER_MAP): REGISTER_MAP_SELECTOR,
                }
            ),
            {"collapsed": True},
        ),
    }
)


def flatten(connection_type: str, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the sectioned form input into config entry data."""
    data = {CONF_KIND: KIND_DEVICE, CONF_CONNECTION: connection_type, **user_input}
    data.update(data.pop(SECTION_MORE_OPTIONS))
    if connection_type == CONNECTION_TCP:
        # One connection is shared per host and port, so spelling matters.
        data[CONF_HOST] = data[CONF_HOST].strip().lower()
    else:
        data[CONF_DEVICE] = data[CONF_DEVICE].strip()
    return data


def sectioned(data: Mapping[str, Any]) -> dict[str, Any]:
    """Shape config entry data back into the sectioned form."""
    inner = (CONF_UNIT_ID, CONF_FRAMING, CONF_REGISTER_MAP)
    return {
        **{
            k: v
            for k, v in data.items()
            if k not in inner and k not in (CONF_KIND, CONF_CONNECTION)
        },
        SECTION_MORE_OPTIONS: {k: data[k] for k in inner if k in data},
    }


async def async_probe(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    errors: dict[str, str],
    placeholders: dict[str, str],
) -> Identity | None:
    """Probe the device; fill ``errors`` and return None when that fails."""
    try:
        endpoint = endpoint_from_data(data)
    except ValueError as err:
        errors["base"] = "invalid_address"
        placeholders["error"] = str(err)
        return None
    pool = async_get_link_pool(hass)
    family = FAMILIES[data[CONF_FAMILY]]
    try:
        driver = build_driver(
            pool,
            family,
            endpoint,
            data[CONF_UNIT_ID],
            data.get(CONF_REGISTER_MAP),
        )
    except LinkSettingsConflictError as err:
        errors["base"] = "bus_settings_conflict"
        placeholders["error"] = str(err)
        return None
    except ValueError as err:
        errors["base"] = (
            "invalid_register_map" if family.needs_register_map else "invalid_address"
        )
        placeholders["error"] = str(err)
        return None
    try:
        return await driver.async_identify()
    except DeviceSilentError as err:
        errors["base"] = "no_response"
        placeholders["error"] = str(err)
        # The commonest cause on a serial bus: the wrong line speed.
        baudrate = data.get(CONF_BAUDRATE)
        if baudrate is not None and baudrate != family.default_baudrate:
            placeholders["error"] += (
                f" ({family.name} usually runs at {family.default_baudrate}"
                f" baud, not {baudrate})"
            )
    except LinkError as err:
        errors["base"] = "cannot_connect"
        placeholders["error"] = str(err)
    except WrongDeviceError as err:
        errors["base"] = "wrong_device"
        placeholders["error"] = str(err)
    except Exception as err:
        LOGGER.exception("Unexpected error probing %s", endpoint)
        errors["base"] = "unknown"
        placeholders["error"] = str(err)
    finally:
        await pool.release(driver.link)
    return None


def needs_relink(entry: DeviceConfigEntry, data: Mapping[str, Any]) -> bool:
    """Return whether probing ``data`` clashes with the entry's own open link."""
    if entry.state not in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
        return False
    try:
        current = endpoint_from_data(entry.data)
        new = endpoint_from_data(data)
    except ValueError:
        return False
    return current.bus_key == new.bus_key and current.serial != new.serial
