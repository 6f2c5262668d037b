"""The dashboard's side: the plan card's module, served and loaded, and what it reads.

The plan card and the dashboard strategy are one plain ES module,
``www/energy-orchestrator.js``, with no build step. Home Assistant serves it
from the integration and the frontend loads it for every user, so neither a
dashboard resource nor a separate HACS plugin is needed. The websocket
command ``energy_orchestrator/site`` tells the card and the strategy which
entities each controller has and which it reads, so neither needs entity
ids typed in.
"""

import hashlib
from pathlib import Path
from typing import Any

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http.server import StaticPathConfig
from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
import probatio

from .const import CONF_KIND, DOMAIN, KIND_DEVICE, SUBENTRY_BATTERY

MODULE = Path(__file__).parent / "www" / "energy-orchestrator.js"
MODULE_URL = f"/{DOMAIN}/{MODULE.name}"
# A controller's entity ids in its data end so; the card reads them by the rest.
ENTITY_SUFFIX = "_entity"


async def async_setup_dashboard(hass: HomeAssistant) -> None:
    """Register the websocket command; serve the module and load it in the frontend.

    Without the frontend (a headless Home Assistant) there is nothing to
    draw on, and the controllers run as well without it.
    """
    async_register_command(hass, websocket_site)
    if "frontend" not in hass.config.components:
        return
    version = await hass.async_add_executor_job(_fingerprint, MODULE)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(MODULE_URL, str(MODULE), cache_headers=True)]
    )
    # The fingerprint makes a browser fetch the module again after an update.
    add_extra_js_url(hass, f"{MODULE_URL}?v={version}")


def _fingerprint(path: Path) -> str:
    """Return a short digest of a file's content."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@websocket_command({probatio.Required("type"): f"{DOMAIN}/site"})
@callback
def websocket_site(
    hass: HomeAssistant,
    connection: ActiveConnection,
    msg: dict[str, Any],
) -> None:
    """Answer with every entry: its kind, devices, entities and what it reads."""
    entities = er.async_get(hass)
    devices = dr.async_get(hass)
    connection.send_result(
        msg["id"],
        {
            "entries": [
                site_entry(entities, devices, entry)
                for entry in hass.config_entries.async_entries(DOMAIN)
                if entry.data.get(CONF_KIND)
            ]
        },
    )


def site_entry(
    entities: er.EntityRegistry, devices: dr.DeviceRegistry, entry: ConfigEntry[Any]
) -> dict[str, Any]:
    """Return what a dashboard needs to know of one entry.

    A controller's entities are given by their key (``planned_peak``,
    ``state``...), and the entities it reads and writes by the field of its
    form without ``_entity`` (``grid_power``, ``battery_soc``...); a further
    battery's likewise, under ``batteries``.
    """
    kind = entry.data[CONF_KIND]
    view: dict[str, Any] = {
        "entry_id": entry.entry_id,
        "kind": kind,
        "title": entry.title,
        "loaded": entry.state is ConfigEntryState.LOADED,
        "device_ids": [
            device.id
            for device in dr.async_entries_for_config_entry(devices, entry.entry_id)
        ],
    }
    if kind == KIND_DEVICE:
        return view
    prefix = f"{entry.entry_id}_"
    view["entities"] = {
        registered.unique_id.removeprefix(prefix): registered.entity_id
        for registered in er.async_entries_for_config_entry(entities, entry.entry_id)
        if registered.unique_id.startswith(prefix)
    }
    view["inputs"] = _wiring(entry.data)
    view["batteries"] = [
        {"title": subentry.title, "inputs": _wiring(subentry.data)}
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_BATTERY
    ]
    return view


def _wiring(data: Any) -> dict[str, str]:
    """Return the entity ids in an entry's data, by their field without ``_entity``."""
    return {
        key.removesuffix(ENTITY_SUFFIX): value
        for key, value in data.items()
        if key.endswith(ENTITY_SUFFIX) and isinstance(value, str) and value
    }
