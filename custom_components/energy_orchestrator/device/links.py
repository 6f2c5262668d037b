"""Helpers shared by the config flow and the entry setup."""

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from ..const import (
    CONF_BAUDRATE,
    CONF_CONNECTION,
    CONF_FAMILY,
    CONF_FRAMING,
    CONF_UNIT_ID,
    CONNECTION_SERIAL,
    DOMAIN,
    FRAMING_TCP,
)
from ..lib.drivers.families import FAMILIES
from ..lib.drivers.transport.endpoint import Endpoint, parse_endpoint
from ..lib.drivers.transport.pool import LinkPool
from ..lib.drivers.values import Identity

DATA_LINK_POOL: HassKey[LinkPool] = HassKey(f"{DOMAIN}_link_pool")


def async_get_link_pool(hass: HomeAssistant) -> LinkPool:
    """Return the pool every entry and every probe takes its link from.

    Probing a new device on a gateway that already serves a configured one
    must go through the same connection: many gateways take one client only.
    """
    if (pool := hass.data.get(DATA_LINK_POOL)) is None:
        pool = hass.data[DATA_LINK_POOL] = LinkPool()
    return pool


def unique_id_for(data: Mapping[str, Any], identity: Identity) -> str:
    """Return the unique id of the entry for a device.

    The serial number, where the family's devices report their own; for one
    that reports none (a Daly BMS says only its cell count), the identity it
    does report plus where it is reached, so two alike boards on two ports
    are two entries.
    """
    if FAMILIES[data[CONF_FAMILY]].unique_serial:
        return identity.serial_number
    return f"{identity.serial_number}@{endpoint_from_data(data)}#{data[CONF_UNIT_ID]}"


def endpoint_from_data(data: Mapping[str, Any]) -> Endpoint:
    """Return the endpoint config entry data describes.

    Raises ValueError for data no link can be built from.
    """
    if data[CONF_CONNECTION] == CONNECTION_SERIAL:
        return parse_endpoint(data[CONF_DEVICE], baudrate=data[CONF_BAUDRATE])
    framing = data.get(CONF_FRAMING, FRAMING_TCP)
    host = data[CONF_HOST]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return parse_endpoint(f"{framing}://{host}:{data[CONF_PORT]}")
