"""Every controller's reason speaks for one layer of the site's priority order."""

import pytest

from custom_components.energy_orchestrator.lib.control.arbitration import Layer
from custom_components.energy_orchestrator.lib.control.battery_states import (
    Reason as BatteryReason,
)
from custom_components.energy_orchestrator.lib.control.ev_charging import (
    ChargingReason,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.netting import (
    LoadReason,
)
from custom_components.energy_orchestrator.lib.control.peak_shaving import (
    ShavingReason,
)
from custom_components.energy_orchestrator.lib.control.reason_layers import (
    LAYERS,
    layer_name,
    layer_of,
)


@pytest.mark.parametrize(
    "reasons", [BatteryReason, ShavingReason, ChargingReason, LoadReason]
)
def test_every_reason_has_a_layer(reasons: type[BatteryReason]) -> None:
    """A reason added to a controller without a layer fails here, not in the UI."""
    assert [reason for reason in reasons if reason not in LAYERS] == []


@pytest.mark.parametrize(
    ("reason", "layer"),
    [
        # Limits a user's request cannot pass are safety.
        (BatteryReason.SOC_FLOOR, Layer.SAFETY),
        (ChargingReason.PHASE_LIMIT, Layer.SAFETY),
        (ShavingReason.PHASE_LIMIT, Layer.SAFETY),
        # The user's own requests.
        (BatteryReason.REQUESTED, Layer.USER_REQUEST),
        (ChargingReason.FAST, Layer.USER_REQUEST),
        # The billed peak, whoever holds it.
        (BatteryReason.PEAK_RESERVE, Layer.PEAK_LIMIT),
        (ChargingReason.PEAK_LIMIT, Layer.PEAK_LIMIT),
        (ShavingReason.ABOVE_LIMIT, Layer.PEAK_LIMIT),
        (ChargingReason.SURPLUS, Layer.SELF_CONSUMPTION),
        (LoadReason.BOOST, Layer.USER_REQUEST),
        (LoadReason.CHEAP_HOUR, Layer.SITE_PLAN),
    ],
)
def test_the_layers_of_the_site_s_order(reason: BatteryReason, layer: Layer) -> None:
    """The reasons the docs name, in the layers the docs put them."""
    assert layer_of(reason) is layer


def test_a_layer_reads_as_the_site_device_shows_it() -> None:
    """The state of *Last decision* is the layer's name in lower case."""
    assert [layer_name(layer) for layer in reversed(Layer)] == [
        "safety",
        "user_request",
        "peak_limit",
        "site_plan",
        "self_consumption",
    ]
