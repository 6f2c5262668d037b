"""Helpers shared by the config flow and the entry setup."""

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT, CONF_TYPE
from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import CONF_BAUDRATE, CONF_FRAMING, DOMAIN, FRAMING_TCP, TYPE_SERIAL
from .drivers.transport.endpoint import Endpoint, parse_endpoint
from .drivers.transport.pool import LinkPool

DATA_LINK_POOL: HassKey[LinkPool] = HassKey(f"{DOMAIN}_link_pool")


def async_get_link_pool(hass: HomeAssistant) -> LinkPool:
    """Return the pool every entry and every probe takes its link from.

    Probing a new device on a gateway that already serves a configured one
    must go through the same connection: many gateways take one client only.
    """
    if (pool := hass.data.get(DATA_LINK_POOL)) is None:
        pool = hass.data[DATA_LINK_POOL] = LinkPool()
    return pool


def endpoint_from_data(data: Mapping[str, Any]) -> Endpoint:
    """Return the endpoint config entry data describes.

    Raises ValueError for data no link can be built from.
    """
    if data[CONF_TYPE] == TYPE_SERIAL:
        return parse_endpoint(data[CONF_DEVICE], baudrate=data[CONF_BAUDRATE])
    framing = data.get(CONF_FRAMING, FRAMING_TCP)
    host = data[CONF_HOST]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return parse_endpoint(f"{framing}://{host}:{data[CONF_PORT]}")
