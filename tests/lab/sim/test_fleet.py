"""Every simulated device answers its family's driver, as ``eo simulate`` serves it."""

from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool
from eo_lab.sim.fleet import serve_fleet, served_driver
from eo_lab.sim.simulated_site import SimulatedSite


async def test_every_device_of_the_fleet_reads_with_its_driver(
    site: SimulatedSite,
) -> None:
    pool = LinkPool(timeout=1.0)
    async with serve_fleet(site, 0) as served:
        assert {device.family for device in served} >= {
            "sdm630",
            "sunspec",
            "sdm120",
            "sdm72",
            "victron_gx",
            "alfen",
            "voltronic_pi30",
            "pylontech",
            "jk_pb",
            "daly",
            "pylontech_can",
        }
        for device in served:
            async with served_driver(pool, device) as driver:
                identity = await driver.async_identify()
                readings = await driver.async_read()
            assert identity.serial_number, device
            assert readings, device
