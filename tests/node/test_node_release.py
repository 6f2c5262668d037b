"""Each family's safe action, on the simulator's devices, without a broker.

What a component hands back is read again by a second driver of its own,
as anyone else on the bus would read it.
"""

import asyncio
import time

from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool
from custom_components.energy_orchestrator.lib.drivers.wallbox import MIN_CURRENT_A
from eo_lab.sim.devices.victron import site_gx_emulator
from eo_lab.sim.devices.wallbox import site_wallbox
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from eo_node.component import Component, Released
from eo_node.config import ComponentConfig, SafeCommand
from eo_node.node import build_component_driver


async def _component(pool: LinkPool, family: str, url: str, unit: int) -> Component:
    """Return an identified component on a served device."""
    config = ComponentConfig("c1", family, parse_endpoint(url), unit)
    component = Component(
        config, build_component_driver(pool, config), asyncio.Lock(), time.time
    )
    await component.identify()
    return component


async def test_victron_setpoint_goes_back_to_the_one_it_had(
    site: SimulatedSite,
) -> None:
    """The GX's ESS setpoint is restored: Victron's own value, not 0."""
    gx = site_gx_emulator(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, gx.sim_devices()) as server:
        pool = LinkPool()
        node = await _component(pool, "victron_gx", server.url, 100)
        other = await _component(pool, "victron_gx", server.url, 100)
        setpoint = Command(CommandKind.GRID_SETPOINT, 0)
        before = await other.driver.async_read_back(setpoint)
        target = float(before) + 700
        await node.write(Command(CommandKind.GRID_SETPOINT, target))
        assert await other.driver.async_read_back(setpoint) == target
        released = await node.apply_safe_action(None)
        assert released == [Released("grid_setpoint", before)]
        assert await other.driver.async_read_back(setpoint) == before
        assert not node.written


async def test_wallbox_goes_to_its_minimum_or_a_configured_off(
    site: SimulatedSite,
) -> None:
    """Released, the charging current is the least; a fixed action turns it off."""
    wallbox = site_wallbox(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, wallbox.sim_devices()) as server:
        pool = LinkPool()
        node = await _component(pool, "alfen", server.url, 1)
        other = await _component(pool, "alfen", server.url, 1)
        current = Command(CommandKind.CHARGER_CURRENT, 0)
        await node.write(Command(CommandKind.CHARGER_CURRENT, 16))
        assert await other.driver.async_read_back(current) == 16
        assert await node.apply_safe_action(None) == [
            Released("charger_current", MIN_CURRENT_A)
        ]
        assert await other.driver.async_read_back(current) == MIN_CURRENT_A
        off = (SafeCommand(CommandKind.CHARGER_ENABLED, "off"),)
        assert await node.apply_safe_action(off) == [Released("charger_enabled", "off")]
        enabled = Command(CommandKind.CHARGER_ENABLED, "off")
        assert await other.driver.async_read_back(enabled) == "off"


async def test_nothing_written_nothing_released(site: SimulatedSite) -> None:
    """A component the node never commanded is left alone."""
    gx = site_gx_emulator(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, gx.sim_devices()) as server:
        node = await _component(LinkPool(), "victron_gx", server.url, 100)
        assert await node.apply_safe_action(None) == []
