"""The kinds of config entry, and what each brings: one registry, read everywhere.

A device entry reads one device; a remote node entry the devices of a node
running ``eo node``, over MQTT; a controller entry (battery manager, peak
shaving, wallbox manager, flexible loads) steers devices through entities;
a site report reports on the site's entities; the site shows how the
controllers share it. The entry's
``kind`` field names its kind; every place that treats kinds differently
(set-up, platforms, flows, diagnostics, actions) asks this registry.
"""

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentryFlow, OptionsFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
import probatio

from . import (
    battery_manager,
    device,
    flexible_loads,
    peak_shaving,
    remote_node,
    site_report,
    site_view,
    wallbox_manager,
)
from .battery_manager.flow import (
    STEP_BATTERY_MANAGER,
    BatteryManagerOptionsFlow,
    setup_problems as battery_manager_problems,
)
from .const import (
    CONF_BATTERY_SETPOINT_ENTITY,
    CONF_CHARGE_SWITCH_ENTITY,
    CONF_CURRENT_ENTITY_OUT,
    CONF_ENABLE_ENTITY,
    CONF_KIND,
    CONF_LOAD_ENTITY,
    CONF_MODE_SELECT_ENTITY,
    CONF_PHASES_ENTITY,
    CONF_PV_ROUTING_ENTITY,
    CONF_SELL_SWITCH_ENTITY,
    CONF_SETPOINT_ENTITY,
    DOMAIN,
    KIND_BATTERY_MANAGER,
    KIND_DEVICE,
    KIND_FLEXIBLE_LOADS,
    KIND_PEAK_SHAVING,
    KIND_REMOTE_NODE,
    KIND_SITE,
    KIND_SITE_REPORT,
    KIND_WALLBOX_MANAGER,
)
from .controller.base import async_remove_controller
from .controller.diagnostics import controller_diagnostics
from .controller.problems import SetupProblem
from .device.diagnostics import device_diagnostics
from .flexible_loads.flow import (
    SUBENTRY_FLOWS as FLEXIBLE_LOADS_SUBENTRY_FLOWS,
    WATCHED_FORM as FLEXIBLE_LOADS_FORM,
    FlexibleLoadsOptionsFlow,
    setup_problems as flexible_loads_problems,
)
from .peak_shaving.flow import (
    STEP_PEAK_SHAVING,
    SUBENTRY_FLOWS as PEAK_SHAVING_SUBENTRY_FLOWS,
    PeakShavingOptionsFlow,
    setup_problems as peak_shaving_problems,
)
from .site_report.flow import SiteReportOptionsFlow
from .wallbox_manager.flow import (
    STEP_WALLBOX_MANAGER,
    WallboxManagerOptionsFlow,
    setup_problems as wallbox_manager_problems,
)

type PlatformSetup = Callable[
    [HomeAssistant, Any, AddConfigEntryEntitiesCallback], Awaitable[None]
]


@dataclass(frozen=True, kw_only=True)
class EntryKind:
    """What one kind of entry brings to Home Assistant."""

    key: str
    # The entities of each platform the kind has; the entry is forwarded to
    # these platforms only.
    platforms: Mapping[Platform, PlatformSetup]
    # Builds the entry's runtime data (raises ConfigEntryNotReady/-Error).
    async_setup: Callable[[HomeAssistant, Any], Awaitable[None]]
    # Runs after the entities are gone: a controller leaves its outputs safe.
    async_unload: Callable[[HomeAssistant, Any], Awaitable[bool]]
    # Runs when the entry is deleted: a controller's saved state goes with it.
    async_remove: Callable[[HomeAssistant, Any], Awaitable[None]] | None = None
    # Whether a user may delete one of the entry's devices (and forgets it).
    async_remove_device: Callable[[HomeAssistant, Any, DeviceEntry], bool] | None = None
    diagnostics: Callable[[Any], dict[str, Any]]
    options_flow: Callable[[], OptionsFlow] | None = None
    subentry_flows: Mapping[str, type[ConfigSubentryFlow]] = field(default_factory=dict)
    # The entry data's keys of the entities a controller writes to: no two
    # controllers may drive one output, and the first one present is the
    # entry's unique id.
    output_keys: tuple[str, ...] = ()
    # A controller's form (its entity fields are watched after it is added)
    # and what else keeps an added entry from working: each is a repair issue.
    form: probatio.Schema | None = None
    setup_problems: Callable[[HomeAssistant, Any], list[SetupProblem]] | None = None

    def outputs(self, *parts: Mapping[str, Any]) -> list[str]:
        """Return the outputs named in an entry's data and its subentries' data."""
        return [
            part[key] for part in parts for key in self.output_keys if part.get(key)
        ]


KINDS: Mapping[str, EntryKind] = {
    kind.key: kind
    for kind in (
        EntryKind(
            key=KIND_DEVICE,
            platforms=device.PLATFORMS,
            async_setup=device.async_setup_device,
            async_unload=device.async_unload_device,
            diagnostics=device_diagnostics,
        ),
        EntryKind(
            key=KIND_BATTERY_MANAGER,
            platforms=battery_manager.PLATFORMS,
            async_setup=battery_manager.async_setup_battery_manager,
            async_unload=battery_manager.async_unload_battery_manager,
            async_remove=async_remove_controller,
            diagnostics=controller_diagnostics,
            options_flow=BatteryManagerOptionsFlow,
            form=STEP_BATTERY_MANAGER,
            setup_problems=battery_manager_problems,
            output_keys=(
                CONF_MODE_SELECT_ENTITY,
                CONF_SETPOINT_ENTITY,
                CONF_CHARGE_SWITCH_ENTITY,
                CONF_SELL_SWITCH_ENTITY,
            ),
        ),
        EntryKind(
            key=KIND_PEAK_SHAVING,
            platforms=peak_shaving.PLATFORMS,
            async_setup=peak_shaving.async_setup_peak_shaving,
            async_unload=peak_shaving.async_unload_peak_shaving,
            async_remove=async_remove_controller,
            diagnostics=controller_diagnostics,
            options_flow=PeakShavingOptionsFlow,
            subentry_flows=PEAK_SHAVING_SUBENTRY_FLOWS,
            form=STEP_PEAK_SHAVING,
            setup_problems=peak_shaving_problems,
            output_keys=(CONF_BATTERY_SETPOINT_ENTITY,),
        ),
        EntryKind(
            key=KIND_WALLBOX_MANAGER,
            platforms=wallbox_manager.PLATFORMS,
            async_setup=wallbox_manager.async_setup_wallbox_manager,
            async_unload=wallbox_manager.async_unload_wallbox_manager,
            async_remove=async_remove_controller,
            diagnostics=controller_diagnostics,
            options_flow=WallboxManagerOptionsFlow,
            form=STEP_WALLBOX_MANAGER,
            setup_problems=wallbox_manager_problems,
            output_keys=(
                CONF_CURRENT_ENTITY_OUT,
                CONF_ENABLE_ENTITY,
                CONF_PHASES_ENTITY,
                CONF_PV_ROUTING_ENTITY,
            ),
        ),
        EntryKind(
            key=KIND_FLEXIBLE_LOADS,
            platforms=flexible_loads.PLATFORMS,
            async_setup=flexible_loads.async_setup_flexible_loads,
            async_unload=flexible_loads.async_unload_flexible_loads,
            async_remove=async_remove_controller,
            diagnostics=controller_diagnostics,
            options_flow=FlexibleLoadsOptionsFlow,
            subentry_flows=FLEXIBLE_LOADS_SUBENTRY_FLOWS,
            form=FLEXIBLE_LOADS_FORM,
            setup_problems=flexible_loads_problems,
            # Each load's switch or number, in its subentry.
            output_keys=(CONF_LOAD_ENTITY,),
        ),
        EntryKind(
            key=KIND_SITE_REPORT,
            platforms=site_report.PLATFORMS,
            async_setup=site_report.async_setup_site_report,
            async_unload=site_report.async_unload_site_report,
            async_remove=site_report.async_remove_site_report,
            diagnostics=site_report.site_report_diagnostics,
            options_flow=SiteReportOptionsFlow,
        ),
        EntryKind(
            key=KIND_REMOTE_NODE,
            platforms=remote_node.PLATFORMS,
            async_setup=remote_node.async_setup_remote_node,
            async_unload=remote_node.async_unload_remote_node,
            async_remove_device=remote_node.async_remove_remote_device,
            diagnostics=remote_node.remote_node_diagnostics,
        ),
        EntryKind(
            key=KIND_SITE,
            platforms=site_view.PLATFORMS,
            async_setup=site_view.async_setup_site,
            async_unload=site_view.async_unload_site,
            diagnostics=site_view.site_diagnostics,
        ),
    )
}


def kind_of(entry: ConfigEntry[Any]) -> EntryKind:
    """Return the kind of an entry."""
    return KINDS[entry.data[CONF_KIND]]


def outputs_of(entry: ConfigEntry[Any]) -> list[str]:
    """Return the entities an entry writes to, its further batteries' included."""
    return kind_of(entry).outputs(
        entry.data, *(subentry.data for subentry in entry.subentries.values())
    )


@callback
def async_claimed_output(
    hass: HomeAssistant, outputs: Collection[str], *, other_than: str | None = None
) -> str | None:
    """Return which of ``outputs`` another entry drives, and that entry's title.

    The outputs of the entry ``other_than`` (whose further battery is being
    added or edited) do not count. None when no other entry drives any.
    """
    for entry in hass.config_entries.async_entries(DOMAIN):
        # An ignored entry has no data, and one a newer version wrote
        # (before a downgrade) may name a kind this version does not know.
        if entry.entry_id == other_than or entry.data.get(CONF_KIND) not in KINDS:
            continue
        for output in outputs_of(entry):
            if output in outputs:
                return f"{output} ({entry.title})"
    return None
