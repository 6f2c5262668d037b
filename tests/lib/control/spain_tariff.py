"""Spain's 2.0TD tariff, which the flexible loads' tests plan under."""

from typing import Any

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    FixedPrice,
    Tariff,
    time_of_use,
)


def spain_20td(**demand: Any) -> Tariff:
    """Return 2.0TD's periods (UTC here: the night cheap, the evening dear), hourly netting.

    ``demand``: the demand charge's terms, where the test needs one.
    """
    return Tariff(
        time_of_use(
            [
                ("00:00", 0.13),
                ("08:00", 0.20),
                ("10:00", 0.28),
                ("14:00", 0.20),
                ("18:00", 0.28),
                ("22:00", 0.20),
            ]
        ),
        FixedPrice(0.06),
        60,
        **demand,
    )
