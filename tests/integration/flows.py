"""Adding a device through the config flow, as a user does: menu, family, connection."""

from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.energy_orchestrator.const import DOMAIN


async def open_connection_form(
    hass: HomeAssistant, connection: str, family: str
) -> Any:
    """Choose how the device is reached and its family; return the next form."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": connection}
    )
    assert result["type"] is FlowResultType.FORM
    if result["step_id"] == f"{connection}_connection":
        # The only family reached this way (a battery on a CAN bus) is chosen.
        return result
    assert result["step_id"] == connection
    # The frontend's button says Next: the connection form follows.
    assert result["last_step"] is False
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"family": family}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == f"{connection}_connection"
    return result


async def add_device(
    hass: HomeAssistant, connection: str, family: str, user_input: dict[str, Any]
) -> Any:
    """Run the flow to its end with the connection form's input; return the result."""
    result = await open_connection_form(hass, connection, family)
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
