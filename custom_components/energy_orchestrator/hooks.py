"""Home Assistant's hooks: set up, unload, migrate and remove entries of every kind.

The package's ``__init__`` imports these where Home Assistant runs; each one
looks up the entry's kind in ``kinds.py`` and does what that kind needs.
"""

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.typing import ConfigType

from .const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
    KIND_DEVICE,
    LOGGER,
)
from .controller.issues import async_watch_setup
from .dashboard import async_setup_dashboard
from .kinds import KINDS, kind_of, outputs_of
from .services import async_setup_services

# Entries are made in the UI only.
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

# Before 1.2, one field ``type`` said both a device's connection ("tcp",
# "serial") and a controller's kind.
_LEGACY_TYPE = "type"


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and the dashboard's card, once for all entries."""
    async_setup_services(hass)
    await async_setup_dashboard(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Set up an entry of any kind, then its entities."""
    kind = kind_of(entry)
    await kind.async_setup(hass, entry)
    await hass.config_entries.async_forward_entry_setups(entry, list(kind.platforms))
    if kind.form is not None and kind.setup_problems is not None:
        # A controller says what keeps it from working as repair issues.
        async_watch_setup(
            hass,
            entry,
            entry.runtime_data.coordinator,
            form=kind.form,
            output_keys=kind.output_keys,
            problems_of=kind.setup_problems,
        )
    # Home Assistant 2026.10 still checks for a boolean here.
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Remove the entities, then let the kind stop what it runs."""
    kind = kind_of(entry)
    if not await hass.config_entries.async_unload_platforms(
        entry, list(kind.platforms)
    ):
        return False
    return await kind.async_unload(hass, entry)


async def async_remove_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Delete what a removed entry kept on disk (a controller's saved state)."""
    if (remove := kind_of(entry).async_remove) is not None:
        await remove(hass, entry)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: ConfigEntry[Any], device: DeviceEntry
) -> bool:
    """Let a user delete a device the entry no longer has (a remote component gone)."""
    remove = kind_of(entry).async_remove_device
    return remove is not None and remove(hass, entry, device)


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Bring an entry written by an older version to today's data.

    1.1 -> 1.2: ``type`` splits into ``kind`` and, for a device, ``connection``;
    a controller gets the unique id of the first output it drives.
    """
    # Home Assistant itself refuses an entry of a newer major version.
    if entry.minor_version < 2:
        data = dict(entry.data)
        legacy = data.pop(_LEGACY_TYPE)
        if legacy in KINDS:
            data[CONF_KIND] = legacy
        else:
            data[CONF_KIND] = KIND_DEVICE
            data[CONF_CONNECTION] = legacy
        hass.config_entries.async_update_entry(entry, data=data, minor_version=2)
        # Controllers had no unique id before 1.2; devices keep theirs.
        if outputs_of(entry):
            _async_claim_output(hass, entry)
    return True


def _any_version_outputs(entry: ConfigEntry[Any]) -> list[str]:
    """Return the outputs of an entry, migrated yet or not (entries migrate apart)."""
    kind = KINDS.get(entry.data.get(CONF_KIND, entry.data.get(_LEGACY_TYPE)))
    if kind is None:
        return []
    return kind.outputs(
        entry.data, *(subentry.data for subentry in entry.subentries.values())
    )


def _async_claim_output(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Give a controller its first output as unique id, unless another has it.

    Before 1.2 two controllers could drive one output. The one added first
    keeps the output; the later one is logged once for each controller it
    shares outputs with, and stays without a unique id if its first output
    is one of them.
    """
    outputs = outputs_of(entry)
    # All entries are kept in the order they were added; the index by domain
    # is not (an entry given a unique id moves to its end).
    entries = [e for e in hass.config_entries.async_entries() if e.domain == DOMAIN]
    taken: set[str] = set()
    for earlier in entries[: entries.index(entry)]:
        if shared := [o for o in _any_version_outputs(earlier) if o in outputs]:
            taken.update(shared)
            LOGGER.warning(
                "%s and %s both drive %s; only one of them should (delete one)",
                earlier.title,
                entry.title,
                ", ".join(shared),
            )
    # A later entry never holds it: it would have found this one earlier.
    if outputs[0] not in taken:
        hass.config_entries.async_update_entry(entry, unique_id=outputs[0])
