"""Home Assistant's MQTT integration, imported only when a remote node uses it.

``homeassistant.components.mqtt`` imports paho-mqtt, which Home Assistant
installs with the MQTT integration only: a user without MQTT must still
load this integration, so nothing imports it before a remote node's entry
or flow needs it (``mqtt`` is an after-dependency, not a dependency).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.exceptions import HomeAssistantError

if TYPE_CHECKING:
    # Types only: importing it would import paho-mqtt.
    from homeassistant.components.mqtt.models import ReceiveMessage as Message

__all__ = ["Message"]

# The MQTT integration's domain, as the config entries name it.
MQTT_DOMAIN = "mqtt"


def mqtt_configured(hass: HomeAssistant) -> bool:
    """Return whether the MQTT integration has an entry that is not disabled."""
    return any(
        entry.disabled_by is None
        for entry in hass.config_entries.async_entries(MQTT_DOMAIN)
    )


async def async_mqtt_ready(hass: HomeAssistant) -> bool:
    """Return whether the MQTT integration is set up (connected or not)."""
    if not mqtt_configured(hass):
        return False
    from homeassistant.components import mqtt  # noqa: PLC0415 - see the docstring

    try:
        return await mqtt.async_wait_for_mqtt_client(hass)
    except HomeAssistantError:
        return False


async def async_subscribe(
    hass: HomeAssistant, topic: str, handler: Callable[[Message], None]
) -> CALLBACK_TYPE:
    """Subscribe to a topic (QoS 1); return the unsubscribe callback."""
    from homeassistant.components import mqtt  # noqa: PLC0415

    return await mqtt.async_subscribe(hass, topic, handler, qos=1)


async def async_publish(hass: HomeAssistant, topic: str, payload: str) -> None:
    """Publish a message (QoS 1, not retained)."""
    from homeassistant.components import mqtt  # noqa: PLC0415

    await mqtt.async_publish(hass, topic, payload, qos=1)


def subscribe_connection(
    hass: HomeAssistant, on_change: Callable[[bool], None]
) -> CALLBACK_TYPE:
    """Call ``on_change(connected)`` whenever Home Assistant's broker link changes."""
    from homeassistant.components import mqtt  # noqa: PLC0415

    return mqtt.async_subscribe_connection_status(hass, on_change)


def is_connected(hass: HomeAssistant) -> bool:
    """Return whether Home Assistant is connected to the broker now."""
    from homeassistant.components import mqtt  # noqa: PLC0415

    try:
        return bool(mqtt.is_connected(hass))
    except KeyError:
        return False
