"""The flexible loads forms: meter and tariff when added; each load a subentry.

The entry is added with its grid meter (a power sensor, or import and
export energy counters), optionally PV power and a PV forecast, and its
tariff and safe state (its options, editable after). Each load is added to
it as a subentry: the switch or number that drives it, its power, need and
window. A load's entity must not be driven by another controller.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, override

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigFlowResult,
    ConfigSubentryFlow,
)
from homeassistant.const import CONF_NAME, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers.issue_registry import IssueSeverity
from homeassistant.helpers.selector import (
    BooleanSelector,
    ConfigEntrySelector,
    ConfigEntrySelectorConfig,
    EntitySelector,
    EntitySelectorConfig,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TimeSelector,
)
from homeassistant.util import dt as dt_util
import probatio

from ..const import (
    CONF_BILLING_INTERVAL_MIN,
    CONF_BILLING_PERIOD,
    CONF_DEMAND_CHARGE_PER_KW,
    CONF_ENERGY_KWH_PER_DAY,
    CONF_EXPORT_PRICE,
    CONF_EXPORT_PRICE_ENTITY,
    CONF_GRID_EXPORT_ENERGY_ENTITY,
    CONF_GRID_IMPORT_ENERGY_ENTITY,
    CONF_GRID_POWER_ENTITY,
    CONF_IMPORT_PRICE,
    CONF_IMPORT_PRICE_ENTITY,
    CONF_INTERRUPTIBLE,
    CONF_LOAD_ENTITY,
    CONF_LOAD_POWER_ENTITY,
    CONF_LOAD_POWER_W,
    CONF_MIN_OFF_MINUTES,
    CONF_MIN_ON_MINUTES,
    CONF_NETTING_MINUTES,
    CONF_PLAN_BATTERY,
    CONF_PRIORITY,
    CONF_PV_FORECAST_ENTITY,
    CONF_PV_FORECAST_ENTRY,
    CONF_PV_POWER_ENTITY,
    CONF_SAFE_STATE,
    CONF_TIME_OF_USE,
    CONF_WATTS_PER_AMP,
    CONF_WINDOW_END,
    CONF_WINDOW_START,
    KIND_FLEXIBLE_LOADS,
    SAFE_STATE_LEAVE,
    SAFE_STATE_OFF,
    SUBENTRY_LOAD,
)
from ..controller.flow import ControllerOptionsFlow, ControllerSubentryFlow
from ..controller.outputs import NUMBER_DOMAINS, SWITCH_DOMAINS
from ..controller.problems import SetupProblem
from ..controller.selectors import (
    billing_fields,
    number_box,
    sensor_picker,
)
from ..lib.control.flexible_loads.loads import LoadError
from ..lib.control.flexible_loads.prices import PriceSourceError, attribute_series
from ..lib.control.flexible_loads.tariff import TariffError
from ..peak_shaving.flow import async_check_pv_forecast, pv_forecast_sensor_problem
from .coordinator import FlexibleLoadsConfigEntry
from .prices import NORDPOOL, OCTOPUS_TODAY, TIBBER
from .settings import fixed_prices, load_from

# A price entity whose forecast cannot be read now.
PRICE_UNREADABLE = "price_entity_unreadable"

_OPTION_KEYS = (
    CONF_IMPORT_PRICE,
    CONF_EXPORT_PRICE,
    CONF_TIME_OF_USE,
    CONF_IMPORT_PRICE_ENTITY,
    CONF_EXPORT_PRICE_ENTITY,
    CONF_NETTING_MINUTES,
    CONF_DEMAND_CHARGE_PER_KW,
    CONF_BILLING_INTERVAL_MIN,
    CONF_BILLING_PERIOD,
    CONF_SAFE_STATE,
    CONF_PLAN_BATTERY,
)
_PRICE_ENTITY = EntitySelector(EntitySelectorConfig(domain=["sensor", "event"]))


def options_schema() -> probatio.Schema:
    """Return the tariff and safe-state form (added, and in the options)."""
    return probatio.Schema(
        {
            probatio.Required(CONF_IMPORT_PRICE, default=0.25): number_box(
                0, 100, "/kWh"
            ),
            probatio.Required(CONF_EXPORT_PRICE, default=0.05): number_box(
                0, 100, "/kWh"
            ),
            probatio.Optional(CONF_TIME_OF_USE): TextSelector(),
            probatio.Optional(CONF_IMPORT_PRICE_ENTITY): _PRICE_ENTITY,
            probatio.Optional(CONF_EXPORT_PRICE_ENTITY): _PRICE_ENTITY,
            probatio.Required(CONF_NETTING_MINUTES, default="60"): SelectSelector(
                SelectSelectorConfig(
                    options=["0", "15", "60"], translation_key=CONF_NETTING_MINUTES
                )
            ),
            probatio.Optional(CONF_DEMAND_CHARGE_PER_KW): number_box(0, 10_000, "/kW"),
            **billing_fields(),
            probatio.Required(CONF_SAFE_STATE, default=SAFE_STATE_OFF): SelectSelector(
                SelectSelectorConfig(
                    options=[SAFE_STATE_OFF, SAFE_STATE_LEAVE],
                    translation_key=CONF_SAFE_STATE,
                )
            ),
            # On: the one battery manager's battery, where there is one.
            probatio.Required(CONF_PLAN_BATTERY, default=True): BooleanSelector(),
        }
    )


STEP_FLEXIBLE_LOADS = probatio.Schema(
    {
        probatio.Required(CONF_NAME, default="Flexible loads"): TextSelector(),
        probatio.Optional(CONF_GRID_POWER_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Optional(CONF_GRID_IMPORT_ENERGY_ENTITY): sensor_picker(
            SensorDeviceClass.ENERGY
        ),
        probatio.Optional(CONF_GRID_EXPORT_ENERGY_ENTITY): sensor_picker(
            SensorDeviceClass.ENERGY
        ),
        probatio.Optional(CONF_PV_POWER_ENTITY): sensor_picker(SensorDeviceClass.POWER),
        probatio.Optional(CONF_PV_FORECAST_ENTITY): EntitySelector(
            EntitySelectorConfig(domain="sensor")
        ),
        probatio.Optional(CONF_PV_FORECAST_ENTRY): ConfigEntrySelector(
            ConfigEntrySelectorConfig()
        ),
    }
).extend(options_schema().schema)

STEP_LOAD = probatio.Schema(
    {
        probatio.Required(CONF_NAME): TextSelector(),
        probatio.Required(CONF_LOAD_ENTITY): EntitySelector(
            EntitySelectorConfig(domain=[*SWITCH_DOMAINS, *NUMBER_DOMAINS])
        ),
        probatio.Required(CONF_LOAD_POWER_W): number_box(1, 1_000_000, "W"),
        probatio.Optional(CONF_LOAD_POWER_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Required(CONF_ENERGY_KWH_PER_DAY): number_box(0, 10_000, "kWh"),
        probatio.Required(CONF_WINDOW_START, default="00:00:00"): TimeSelector(),
        probatio.Required(CONF_WINDOW_END, default="00:00:00"): TimeSelector(),
        probatio.Required(CONF_MIN_ON_MINUTES, default=0): number_box(0, 1440, "min"),
        probatio.Required(CONF_MIN_OFF_MINUTES, default=0): number_box(0, 1440, "min"),
        probatio.Required(CONF_PRIORITY, default=0): number_box(-100, 100, ""),
        probatio.Required(CONF_INTERRUPTIBLE, default=True): BooleanSelector(),
        probatio.Optional(CONF_WATTS_PER_AMP): number_box(1, 100_000, "W"),
    }
)

# What the entry's repair issues watch: its own entities and its loads'.
WATCHED_FORM = STEP_FLEXIBLE_LOADS.extend(STEP_LOAD.schema)


def _filled(user_input: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Return the fields of ``keys`` the user filled in."""
    return {
        key: user_input[key] for key in keys if user_input.get(key) not in (None, "")
    }


def price_entity_problem(
    hass: HomeAssistant, field: str, entity_id: str | None
) -> SetupProblem | None:
    """Return why a price entity gives no forecast, None when it does.

    Nord Pool and Tibber answer an action, which is asked when the entry
    runs; Octopus Energy's day rates are read with tomorrow's. An entity
    that cannot be read now (unavailable, not loaded yet) is not judged.
    """
    if not entity_id:
        return None
    from homeassistant.helpers import entity_registry as er  # noqa: PLC0415

    registry_entry = er.async_get(hass).async_get(entity_id)
    if registry_entry is not None and registry_entry.platform in (NORDPOOL, TIBBER):
        return None
    state = hass.states.get(entity_id)
    if state is None or (
        state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN)
        and not entity_id.endswith(OCTOPUS_TODAY)
    ):
        return None
    now = datetime.now(UTC)
    try:
        attribute_series(
            state.attributes,
            state.attributes.get("unit_of_measurement"),
            dt_util.as_local(now).date(),
            dt_util.get_default_time_zone(),
        )
    except PriceSourceError as err:
        return SetupProblem(
            code=PRICE_UNREADABLE,
            field=field,
            subject=entity_id,
            detail=f"{entity_id}: {err}",
            severity=IssueSeverity.WARNING,
        )
    return None


def validate_options(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check the tariff and safe state; return options, errors, placeholders."""
    options = _filled(user_input, _OPTION_KEYS)
    placeholders = {"error": ""}
    if options.get(CONF_TIME_OF_USE) and options.get(CONF_IMPORT_PRICE_ENTITY):
        # Which would the import price be? One source.
        return options, {CONF_TIME_OF_USE: "price_twice"}, placeholders
    try:
        fixed_prices(options, dt_util.get_default_time_zone())
    except TariffError as err:
        placeholders["error"] = str(err)
        return options, {CONF_TIME_OF_USE: "invalid_time_of_use"}, placeholders
    errors: dict[str, str] = {}
    for key in (CONF_IMPORT_PRICE_ENTITY, CONF_EXPORT_PRICE_ENTITY):
        if problem := price_entity_problem(hass, key, options.get(key)):
            errors[key] = problem.code
            placeholders["error"] = problem.detail
    return options, errors, placeholders


def validate_flexible_loads(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """Split the form into entry data and options; check them."""
    data = {
        key: value
        for key, value in user_input.items()
        if key not in _OPTION_KEYS and value not in (None, "")
    }
    options, errors, placeholders = validate_options(hass, user_input)
    counters = [
        key
        for key in (CONF_GRID_IMPORT_ENERGY_ENTITY, CONF_GRID_EXPORT_ENERGY_ENTITY)
        if data.get(key)
    ]
    if data.get(CONF_GRID_POWER_ENTITY) and counters:
        errors[CONF_GRID_POWER_ENTITY] = "meter_twice"
    elif not data.get(CONF_GRID_POWER_ENTITY) and len(counters) < 2:
        errors[CONF_GRID_POWER_ENTITY] = "meter_missing"
    if data.get(CONF_PV_FORECAST_ENTITY) and data.get(CONF_PV_FORECAST_ENTRY):
        errors[CONF_PV_FORECAST_ENTRY] = "pv_forecast_twice"
    elif (
        data.get(CONF_PV_FORECAST_ENTITY) or data.get(CONF_PV_FORECAST_ENTRY)
    ) and not data.get(CONF_PV_POWER_ENTITY):
        # The forecast replaces PV in the net load: PV must be known apart.
        errors[CONF_PV_POWER_ENTITY] = "pv_forecast_without_pv"
    elif problem := pv_forecast_sensor_problem(hass, data.get(CONF_PV_FORECAST_ENTITY)):
        errors[problem.field] = problem.code
        placeholders["error"] = problem.detail
    return data, options, errors, placeholders


async def async_check_flexible_loads(
    hass: HomeAssistant, user_input: Mapping[str, Any] | None
) -> dict[str, str] | None:
    """Return an error if the chosen solar forecast service gives no forecast."""
    if user_input is None:
        return None
    return await async_check_pv_forecast(hass, user_input)


def validate_load(
    user_input: Mapping[str, Any],
    entry: FlexibleLoadsConfigEntry,
    subentry_id: str | None = None,
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check a load of ``entry`` (``subentry_id`` when it is edited).

    Return its subentry data (with its name), errors, placeholders.
    """
    data = _filled(
        user_input,
        (
            CONF_NAME,
            CONF_LOAD_ENTITY,
            CONF_LOAD_POWER_W,
            CONF_LOAD_POWER_ENTITY,
            CONF_ENERGY_KWH_PER_DAY,
            CONF_WINDOW_START,
            CONF_WINDOW_END,
            CONF_MIN_ON_MINUTES,
            CONF_MIN_OFF_MINUTES,
            CONF_PRIORITY,
            CONF_INTERRUPTIBLE,
            CONF_WATTS_PER_AMP,
        ),
    )
    placeholders = {"error": ""}
    taken = {
        subentry.data.get(CONF_LOAD_ENTITY)
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_LOAD
        and subentry.subentry_id != subentry_id
    }
    if data.get(CONF_LOAD_ENTITY) in taken:
        return data, {CONF_LOAD_ENTITY: "load_in_use"}, placeholders
    try:
        load_from(str(data.get(CONF_NAME)), data)
    except LoadError as err:
        placeholders["error"] = str(err)
        return data, {"base": "invalid"}, placeholders
    return data, {}, placeholders


def setup_problems(
    hass: HomeAssistant, entry: FlexibleLoadsConfigEntry
) -> list[SetupProblem]:
    """Return what keeps the flexible loads from working well: prices it cannot read."""
    problems = [
        price_entity_problem(hass, key, entry.options.get(key))
        for key in (CONF_IMPORT_PRICE_ENTITY, CONF_EXPORT_PRICE_ENTITY)
    ]
    coordinator = getattr(entry.runtime_data, "coordinator", None)
    status = coordinator.data if coordinator is not None else None
    if status is not None and status.price_problem and not any(problems):
        problems.append(
            SetupProblem(
                code=PRICE_UNREADABLE,
                field=CONF_IMPORT_PRICE_ENTITY,
                subject="prices",
                detail=status.price_problem,
                severity=IssueSeverity.WARNING,
            )
        )
    return [problem for problem in problems if problem is not None]


class LoadSubentryFlow(ControllerSubentryFlow):
    """Add or edit a load of a flexible loads entry."""

    schema = STEP_LOAD
    output_key = CONF_LOAD_ENTITY
    validate = staticmethod(validate_load)


SUBENTRY_FLOWS: dict[str, type[ConfigSubentryFlow]] = {SUBENTRY_LOAD: LoadSubentryFlow}


class FlexibleLoadsOptionsFlow(ControllerOptionsFlow):
    """Edit the tariff and the safe state (a step of their own, for their texts)."""

    step_id = KIND_FLEXIBLE_LOADS
    schema = staticmethod(options_schema)
    # The entry reloads from its update listener, which also sees its loads
    # (subentries) come, change and go.
    automatic_reload = False

    @override
    def validate_input(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Check the tariff."""
        return validate_options(self.hass, user_input)

    async def async_step_flexible_loads(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the form back: its step is named for its texts."""
        return await self.async_step_init(user_input)
