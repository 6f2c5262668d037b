"""Constants for the Energy Orchestrator integration."""

from datetime import timedelta
import logging
from typing import Final

from .lib.drivers.cadence import Cadence

DOMAIN: Final = "energy_orchestrator"
LOGGER = logging.getLogger(__package__)

CONF_FAMILY: Final = "family"
CONF_UNIT_ID: Final = "unit_id"
CONF_BAUDRATE: Final = "baudrate"
CONF_FRAMING: Final = "framing"
# The JSON register map of a device of the generic family.
CONF_REGISTER_MAP: Final = "register_map"
# A battery on a CAN bus: python-can's interface and channel, the bitrate,
# and whether to send the inverter's keep-alive.
CONF_INTERFACE: Final = "interface"
CONF_CHANNEL: Final = "channel"
CONF_BITRATE: Final = "bitrate"
CONF_KEEPALIVE: Final = "keepalive"

# What a config entry is: its ``kind`` (a device, or one of the controllers)
# and, for a device, its ``connection``. Both are fields of the entry's data.
CONF_KIND: Final = "kind"
CONF_CONNECTION: Final = "connection"
KIND_DEVICE: Final = "device"
CONNECTION_TCP: Final = "tcp"
CONNECTION_SERIAL: Final = "serial"
CONNECTION_CAN: Final = "can"

# How frames travel to a networked device: plain Modbus TCP, or RTU frames
# through a transparent RS485 gateway.
FRAMING_TCP: Final = "tcp"
FRAMING_RTU_OVER_TCP: Final = "rtu-over-tcp"

# A meter's power moves fast and reading it is cheap: every 5 s keeps peak
# shaving and the Energy dashboard current without loading a shared bus.
SCAN_INTERVAL: Final = timedelta(seconds=Cadence.FAST)
# Counters and settings: read once a minute, or along with a fast read that
# covers them anyway.
SLOW_INTERVAL: Final = timedelta(seconds=Cadence.SLOW)

# The serial number is read again this often, and after every reconnect: an
# address can come to point at another device (a swapped meter, a changed
# unit id), and its values must not be shown as this one's.
IDENTITY_CHECK_INTERVAL: Final = timedelta(minutes=10)

# Battery manager entries.
KIND_BATTERY_MANAGER: Final = "battery_manager"

# A controller steps this often: fast enough to count a battery's charge
# faithfully, and matched to how often device entries poll power.
CONTROLLER_STEP: Final = timedelta(seconds=Cadence.FAST)

# Events fired by controllers, visible in the logbook.
EVENT_BATTERY_TRANSITION: Final = f"{DOMAIN}_battery_transition"

# Battery manager entries. Inputs and outputs are entity ids in the entry's
# data; the settings the options flow edits are in its options.
CONF_VOLTAGE_ENTITY: Final = "voltage_entity"
CONF_CURRENT_ENTITY: Final = "current_entity"
CONF_POWER_ENTITY: Final = "power_entity"
CONF_TEMPERATURE_ENTITY: Final = "temperature_entity"
CONF_BMS_SOC_ENTITY: Final = "bms_soc_entity"
CONF_MODE_SELECT_ENTITY: Final = "mode_select_entity"
CONF_SETPOINT_ENTITY: Final = "setpoint_entity"
CONF_CHARGE_SWITCH_ENTITY: Final = "charge_switch_entity"
CONF_SELL_SWITCH_ENTITY: Final = "sell_switch_entity"
# What the mode select is set to, and the setpoint number to, per state.
CONF_OPTION_CHARGE: Final = "option_charge"
CONF_OPTION_REST: Final = "option_rest"
CONF_OPTION_SELL: Final = "option_sell"
CONF_SETPOINT_CHARGE: Final = "setpoint_charge"
CONF_SETPOINT_REST: Final = "setpoint_rest"
CONF_SETPOINT_SELL: Final = "setpoint_sell"

# Peak shaving entries.
KIND_PEAK_SHAVING: Final = "peak_shaving"
CONF_GRID_POWER_ENTITY: Final = "grid_power_entity"
CONF_BATTERY_POWER_ENTITY: Final = "battery_power_entity"
CONF_BATTERY_SOC_ENTITY: Final = "battery_soc_entity"
CONF_PV_POWER_ENTITY: Final = "pv_power_entity"
CONF_PV_FORECAST_ENTITY: Final = "pv_forecast_entity"
# The config entry of a solar forecast service (Forecast.Solar, Solcast...).
CONF_PV_FORECAST_ENTRY: Final = "pv_forecast_entry"
CONF_BATTERY_SETPOINT_ENTITY: Final = "battery_setpoint_entity"
CONF_INVERT_SETPOINT: Final = "invert_setpoint"
CONF_BATTERY_CAPACITY_KWH: Final = "battery_capacity_kwh"
CONF_BATTERY_MAX_KW: Final = "battery_max_kw"
CONF_BATTERY_SOC_MIN: Final = "battery_soc_min"
CONF_BATTERY_SOC_MAX: Final = "battery_soc_max"
CONF_IMPORT_LIMIT_W: Final = "import_limit_w"
CONF_EXPORT_LIMIT_W: Final = "export_limit_w"
CONF_BILLING_INTERVAL_MIN: Final = "billing_interval_minutes"
CONF_BILLING_PERIOD: Final = "billing_period"
# Each phase's grid power, for a limit per phase (the main fuse).
CONF_GRID_POWER_L1_ENTITY: Final = "grid_power_l1_entity"
CONF_GRID_POWER_L2_ENTITY: Final = "grid_power_l2_entity"
CONF_GRID_POWER_L3_ENTITY: Final = "grid_power_l3_entity"
GRID_POWER_PHASE_ENTITIES: Final = (
    CONF_GRID_POWER_L1_ENTITY,
    CONF_GRID_POWER_L2_ENTITY,
    CONF_GRID_POWER_L3_ENTITY,
)
CONF_PHASE_LIMIT_W: Final = "phase_limit_w"
CONF_CONNECTION_LIMIT_W: Final = "connection_limit_w"
CONF_BATTERY_PHASES: Final = "battery_phases"
CONF_BATTERY_VOLTAGE_ENTITY: Final = "battery_voltage_entity"
CONF_BATTERY_VOLTAGE_MIN_V: Final = "battery_voltage_min_v"
CONF_BATTERY_VOLTAGE_MAX_V: Final = "battery_voltage_max_v"
# A further battery (its own inverter) of a peak-shaving entry: a subentry
# with the same fields as the entry's own battery.
SUBENTRY_BATTERY: Final = "battery"

# Wallbox manager entries.
KIND_WALLBOX_MANAGER: Final = "wallbox_manager"
CONF_EV_POWER_ENTITY: Final = "ev_power_entity"
CONF_EV_CONNECTED_ENTITY: Final = "ev_connected_entity"
CONF_BATTERY_FLOOR_ENTITY: Final = "battery_floor_entity"
CONF_CURRENT_ENTITY_OUT: Final = "charger_current_entity"
CONF_PHASES_ENTITY: Final = "charger_phases_entity"
CONF_ENABLE_ENTITY: Final = "charger_enable_entity"
CONF_MIN_CURRENT_A: Final = "min_current_a"
CONF_MAX_CURRENT_A: Final = "max_current_a"
CONF_MIN_PHASE_SWITCH_MINUTES: Final = "min_phase_switch_minutes"
CONF_BATTERY_MAX_DISCHARGE_KW: Final = "battery_max_discharge_kw"
CONF_BUTTON_MODE: Final = "charge_now_mode"
# Reconfigurable PV: the switch that bundles PV onto the wallbox's phase, and
# the share of the PV it puts there when on.
CONF_PV_ROUTING_ENTITY: Final = "pv_routing_entity"
CONF_PV_ROUTING_SHARE: Final = "pv_routing_share"

# Site report entries: the site's entities by role (lib/reports/statistics.py
# Role; the PV field holds a list, one per inverter).
KIND_SITE_REPORT: Final = "site_report"
KIND_SITE: Final = "site"
CONF_SUPPLY_THRESHOLD: Final = "supply_threshold"

# Flexible loads entries: the grid meter, the tariff, the PV forecast in the
# entry; each load a subentry.
KIND_FLEXIBLE_LOADS: Final = "flexible_loads"
CONF_GRID_IMPORT_ENERGY_ENTITY: Final = "grid_import_energy_entity"
CONF_GRID_EXPORT_ENERGY_ENTITY: Final = "grid_export_energy_entity"
CONF_IMPORT_PRICE: Final = "import_price"
CONF_EXPORT_PRICE: Final = "export_price"
# Import prices from times of day on: "07:00 0.25, 23:00 0.10".
CONF_TIME_OF_USE: Final = "time_of_use"
CONF_IMPORT_PRICE_ENTITY: Final = "import_price_entity"
CONF_EXPORT_PRICE_ENTITY: Final = "export_price_entity"
CONF_NETTING_MINUTES: Final = "netting_minutes"
CONF_DEMAND_CHARGE_PER_KW: Final = "demand_charge_per_kw"
CONF_SAFE_STATE: Final = "safe_state"
# Flexible loads: plan the battery manager's battery with the loads.
CONF_PLAN_BATTERY: Final = "plan_battery"
SAFE_STATE_OFF: Final = "off"
SAFE_STATE_LEAVE: Final = "leave"
SUBENTRY_LOAD: Final = "load"
CONF_LOAD_ENTITY: Final = "load_entity"
CONF_LOAD_POWER_W: Final = "power_w"
CONF_LOAD_POWER_ENTITY: Final = "load_power_entity"
CONF_ENERGY_KWH_PER_DAY: Final = "energy_kwh_per_day"
CONF_WINDOW_START: Final = "window_start"
CONF_WINDOW_END: Final = "window_end"
CONF_MIN_ON_MINUTES: Final = "min_on_minutes"
CONF_MIN_OFF_MINUTES: Final = "min_off_minutes"
CONF_PRIORITY: Final = "priority"
CONF_INTERRUPTIBLE: Final = "interruptible"
# What one unit of an adjustable load's number in A is worth in W.
CONF_WATTS_PER_AMP: Final = "watts_per_amp"
EVENT_LOAD_SWITCHED: Final = f"{DOMAIN}_load_switched"
# The site report's opt-in backfill of Victron VRM's hourly history.
CONF_VRM_BACKFILL: Final = "vrm_backfill"
CONF_VRM_TOKEN: Final = "vrm_api_token"
CONF_VRM_SITE_ID: Final = "vrm_site_id"
CONF_VRM_SOURCES: Final = "vrm_sources"

# Remote node entries (issue 29): a node running ``eo node``, reached over
# MQTT through Home Assistant's own MQTT integration.
KIND_REMOTE_NODE: Final = "remote_node"
CONF_PREFIX: Final = "prefix"
CONF_NODE: Final = "node"
DEFAULT_NODE_PREFIX: Final = "energy_orchestrator"
