"""A simulated SunSpec hybrid inverter, and SunSpec devices from register dumps.

``SunSpecInverterEmulator`` is a hybrid inverter as SunSpec shows one: the
common model 1, the three-phase inverter 103, nameplate 120, settings 121,
status 122, immediate controls 123, storage 124, two MPPT modules in 160,
the battery 802 with its lithium-ion strings 804 (when asked for, each with
its modules), an optional grid meter 203, and the end marker. Its registers are built from
the official model definitions (the driver's own ``codec``) and follow a
``Site`` at every read request:

- PV: the site's PV power, split over the MPPT modules by fixed shares, at a
  string voltage that sags a little with power;
- AC: PV minus the battery's power (> 0 charging), so a charging battery
  takes from the inverter's output, shared evenly by the three phases (a
  PV-only inverter, without storage and battery models, leaves the battery
  out);
- battery: the site battery's SOC, voltage, current and power, with SunSpec
  802's sign (discharge > 0) and 124's state of charge;
- meter: the site's grid meter values, import > 0 as SunSpec meters count.

It takes writes to the writable points of its models only (anything else is
"illegal data address"), refuses values outside a point's range ("illegal
data value"), and keeps what was written. The site's inverter obeys it: a
limit enabled through 123 caps the AC output (PV minus the battery's
charge) at ``WMaxLimPct`` of ``WRtg`` by curtailing PV, and the 124 rates
enabled by the ``StorCtl_Mod`` bits cap the battery's charge (``InWRte``)
and discharge (``OutWRte``) power at that share of ``WChaMax``, each until
its revert timer, counted in the site's time, runs out. ``failing_models`` makes reads touching those models fail as a gateway
whose RS485 device stays silent does.

``register_image_device`` serves a register dump (a real device's) as it was
captured, and ``parse_register_dump`` reads the dump format of the tests.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
import math

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from custom_components.energy_orchestrator.lib.drivers.sunspec.chain import SUNS_MARKER
from custom_components.energy_orchestrator.lib.drivers.sunspec.codec import (
    END_MODEL_ID,
    GroupData,
    GroupValues,
    decode_model,
    encode_model,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec.definitions import (
    ModelDef,
    model_definition,
)
from eo_lab.sim.site import Site

DEFAULT_SERIAL = "EO-SIM-INV-0001"
DEFAULT_RATED_W = 8000.0
DEFAULT_MPPT_SHARES = (0.6, 0.4)
DEFAULT_BASE_ADDRESS = 40000

_READ_HOLDING = 3
_WRITES = frozenset({6, 16})
_STRING_VOLTAGE = 380.0  # V at no load; sags 10 % at the rated power
_CELL_SPREAD_V = 0.004  # between the highest and the lowest cell
_PHASES = ("A", "B", "C")

# SunSpec storage states (124 and 802 ``ChaSt``).
_HOLDING = 6
_CHARGING = 4
_DISCHARGING = 3

# Ranges a written value must be in, by point name (scaled units).
_WRITE_RANGES: Mapping[str, tuple[float, float]] = {
    "WMaxLimPct": (0.0, 100.0),
    "InWRte": (-100.0, 100.0),
    "OutWRte": (-100.0, 100.0),
    "WChaMax": (0.0, 1e6),
}


@dataclass(slots=True)
class EmulatedModel:
    """One model of the emulated map and where it sits."""

    definition: ModelDef
    address: int
    count: int
    # Which one of its kind it is (the second 804 string is 1).
    instance: int = 0

    @property
    def end(self) -> int:
        """Return the address just past the model."""
        return self.address + self.count


class SunSpecInverterEmulator:
    """A SunSpec hybrid inverter whose registers follow a ``Site``."""

    manufacturer = "Energy Orchestrator"
    model = "Simulated hybrid inverter"

    def __init__(
        self,
        site: Site,
        *,
        sync: Callable[[], None] | None = None,
        serial_number: str = DEFAULT_SERIAL,
        rated_w: float = DEFAULT_RATED_W,
        mppt_shares: Sequence[float] = DEFAULT_MPPT_SHARES,
        storage: bool = True,
        battery: bool = True,
        meter: bool = False,
        base_address: int = DEFAULT_BASE_ADDRESS,
        initial_ac_energy_wh: float = 12_345_000.0,
        manufacturer: str | None = None,
        meter_export_positive: bool = False,
        battery_strings: Sequence[int] = (),
    ) -> None:
        """Lay out the map; ``sim_device`` serves it.

        ``meter_export_positive`` makes the meter count export > 0, as
        SolarEdge's inverters report their meters. ``battery_strings`` gives
        the modules of each 804 string of the battery (none: no 804).
        """
        if not mppt_shares or any(share < 0 for share in mppt_shares):
            raise ValueError("mppt_shares needs shares >= 0")
        total = sum(mppt_shares)
        self.site = site
        self.sync = sync
        self.serial_number = serial_number
        self.rated_w = rated_w
        self.mppt_shares = tuple(share / total for share in mppt_shares)
        self.base_address = base_address
        if manufacturer is not None:
            self.manufacturer = manufacturer
        self.meter_sign = -1.0 if meter_export_positive else 1.0
        self.initial_ac_energy_wh = initial_ac_energy_wh
        self.hybrid = storage or battery
        self.failing_models: set[int] = set()
        self.requests = 0
        self.writes: list[tuple[int, list[int]]] = []
        self._limit_set_at: float | None = None
        self._rates_set_at: float | None = None
        self.battery_strings = tuple(battery_strings) if battery else ()
        ids = [1, 103, 120, 121, 122, 123]
        if storage:
            ids.append(124)
        ids.append(160)
        if battery:
            ids.append(802)
            ids.extend([804] * len(self.battery_strings))
        if meter:
            ids.append(203)
        self.models: list[EmulatedModel] = []
        self._words: list[int] = list(SUNS_MARKER)
        for index, model_id in enumerate(ids):
            definition = model_definition(model_id)
            assert definition is not None
            instance = ids[:index].count(model_id)
            words = encode_model(definition, self._data(definition, None, instance))
            self.models.append(
                EmulatedModel(
                    definition, base_address + len(self._words), len(words), instance
                )
            )
            self._words.extend(words)
        self._words.extend((END_MODEL_ID, 0))
        self._writable = self._writable_points()

    @property
    def description(self) -> str:
        """Return the inverter as a user would name it."""
        return f"{self.manufacturer} {self.model}, serial {self.serial_number}"

    def model_ids(self) -> list[int]:
        """Return the ids of the models in the chain, in order."""
        return [model.definition.id for model in self.models]

    def model_at(self, model_id: int) -> EmulatedModel:
        """Return the emulated model with an id."""
        return next(m for m in self.models if m.definition.id == model_id)

    def sim_device(self, unit: int) -> SimDevice:
        """Return the pymodbus device serving this inverter at ``unit``."""
        return SimDevice(
            id=unit,
            simdata=[
                SimData(
                    self.base_address,
                    values=list(self._words),
                    datatype=DataType.UINT16,
                )
            ],
            action=self._action,
        )

    # Values.

    def _writable_points(self) -> dict[int, tuple[EmulatedModel, str]]:
        """Return every writable register: its model and point."""
        writable: dict[int, tuple[EmulatedModel, str]] = {}
        for model in self.models:
            values = decode_model(model.definition, self._model_words(model))
            for point in model.definition.group.points:
                offset = values.offset_of(point.name)
                if point.writable and offset is not None:
                    for index in range(point.size):
                        writable[model.address + offset + index] = (model, point.name)
        return writable

    def _model_words(
        self, model: EmulatedModel, registers: Sequence[int] | None = None
    ) -> list[int]:
        """Return a model's registers from the image (or a live block)."""
        start = model.address - self.base_address
        source = self._words if registers is None else registers
        return list(source[start : start + model.count])

    def _data(
        self, definition: ModelDef, settings: GroupValues | None, instance: int = 0
    ) -> GroupData:
        """Return a model's values now, the settings written so far kept."""
        builders: Mapping[int, Callable[[GroupValues | None], GroupData]] = {
            1: self._common,
            103: self._inverter,
            120: self._nameplate,
            121: self._settings,
            122: self._status,
            123: self._controls,
            124: self._storage,
            160: self._mppts,
            802: self._battery,
            203: self._meter,
        }
        if definition.id == 804:
            data = dict(self._string(instance))
        else:
            data = dict(builders[definition.id](settings))
        if settings is not None:
            for point in definition.group.points:
                if point.writable:
                    data[point.name] = settings.get(point.name)
            if definition.id == 123 and self._limit_expired(settings):
                # The timer ran out: the inverter drops the limit by itself.
                data["WMaxLim_Ena"] = 0
                self._limit_set_at = None
            if definition.id == 124 and self._expired(
                settings.get("InOutWRte_RvrtTms"), self._rates_set_at
            ):
                data["StorCtl_Mod"] = 0
                self._rates_set_at = None
        return data

    def _expired(self, revert: object, set_at: float | None) -> bool:
        """Return whether a revert timer (s, 0: none) set at ``set_at`` ran out."""
        return (
            isinstance(revert, int)
            and revert > 0
            and set_at is not None
            and self.site.time - set_at >= revert
        )

    def _limit_expired(self, controls: GroupValues) -> bool:
        """Return whether the revert timer of the written limit ran out."""
        return self._expired(controls.get("WMaxLimPct_RvrtTms"), self._limit_set_at)

    def _limit_w(self, controls: GroupValues | None) -> float | None:
        """Return the AC power limit in force, None when there is none."""
        if (
            controls is None
            or controls.get("WMaxLim_Ena") != 1
            or self._limit_expired(controls)
        ):
            return None
        percent = controls.number("WMaxLimPct")
        return None if percent is None else self.rated_w * percent / 100

    def _powers(self) -> tuple[float, float]:
        """Return the PV (DC) and AC powers now, any limit applied."""
        pv = max(self.site.pv_w, 0.0)
        # Without a battery model the inverter is a PV inverter only.
        battery = self.site.battery_power_w if self.hybrid else 0.0
        ac = pv - battery
        limit = self._limit_w(self.current_values(123))
        if limit is not None and ac > limit:
            # Curtail PV; the battery keeps its power.
            pv = max(pv - (ac - limit), 0.0)
            ac = pv - battery
        return pv, ac

    def obey(self) -> None:
        """Set the site's inverter as the written controls say."""
        commands = self.site.commands(f"sunspec {self.serial_number}")
        commands.ac_limit_w = self._limit_w(self.current_values(123))
        commands.max_charge_w = commands.max_discharge_w = None
        storage = self.current_values(124) if self.hybrid else None
        if storage is None:
            return
        mode = storage.get("StorCtl_Mod")
        reference = storage.number("WChaMax")
        if not isinstance(mode, int) or reference is None:
            return
        for bit, rate in ((0, "InWRte"), (1, "OutWRte")):
            percent = storage.number(rate)
            if not mode & (1 << bit) or percent is None:
                continue
            allowed = reference * max(percent, 0.0) / 100
            if bit == 0:
                commands.max_charge_w = allowed
            else:
                commands.max_discharge_w = allowed

    def current_values(self, model_id: int) -> GroupValues | None:
        """Return a model's values as the registers hold them now."""
        model = next((m for m in self.models if m.definition.id == model_id), None)
        if model is None or len(self._words) < model.end - self.base_address:
            return None
        return decode_model(model.definition, self._model_words(model))

    def _common(self, _: GroupValues | None) -> GroupData:
        """Return model 1: who the inverter is."""
        return {
            "Mn": self.manufacturer,
            "Md": self.model,
            "Vr": "1.0.0",
            "SN": self.serial_number,
            "DA": 1,
        }

    def _inverter(self, _: GroupValues | None) -> GroupData:
        """Return model 103 from the site."""
        site = self.site
        pv, ac = self._powers()
        volts = site.phase_voltages()
        phase_w = ac / 3
        currents = [abs(phase_w) / volt for volt in volts]
        apparent = sum(volt * amp for volt, amp in zip(volts, currents, strict=True))
        dc_volts = self._string_voltage(pv)
        data: dict[str, object] = {
            "A": sum(currents),
            "A_SF": -2,
            "V_SF": -1,
            "W": ac,
            "W_SF": 0,
            "Hz": site.frequency(),
            "Hz_SF": -2,
            "VA": apparent,
            "VA_SF": 0,
            "VAr": 0.0,
            "VAr_SF": 0,
            "WH": self.initial_ac_energy_wh + site.pv_energy_wh,
            "WH_SF": 0,
            "DCA": pv / dc_volts if dc_volts else 0.0,
            "DCA_SF": -2,
            "DCV": dc_volts,
            "DCV_SF": -1,
            "DCW": pv,
            "DCW_SF": 0,
            "TmpCab": 30.0 + 15.0 * abs(ac) / self.rated_w,
            "TmpSnk": 35.0 + 25.0 * abs(ac) / self.rated_w,
            "Tmp_SF": -1,
            "St": 4 if pv > 0 or ac != 0 else 2,  # MPPT, else SLEEPING
            "Evt1": 0,
            "Evt2": 0,
        }
        for phase, volt, amp in zip(_PHASES, volts, currents, strict=True):
            data[f"Aph{phase}"] = amp
            data[f"PhVph{phase}"] = volt
        return data

    def _string_voltage(self, pv_w: float) -> float:
        """Return a string voltage that sags with power (0 V with no PV)."""
        if pv_w <= 0:
            return 0.0
        return _STRING_VOLTAGE * (1.0 - 0.1 * min(pv_w / self.rated_w, 1.0))

    def _settings(self, _: GroupValues | None) -> GroupData:
        """Return model 121: the power the inverter is set to give at most."""
        return {
            "WMax": self.rated_w,
            "WMax_SF": 0,
            "VRef": 230.0,
            "VRef_SF": 0,
            "VRefOfs": 0.0,
            "VRefOfs_SF": 0,
            "ECPNomHz": 50.0,
            "ECPNomHz_SF": 0,
            "ConnPh": 7,
        }

    def _status(self, _: GroupValues | None) -> GroupData:
        """Return model 122: connected to PV, storage and the grid."""
        pv = self._powers()[0]
        return {
            # Bit 0 connected, 1 available, 2 operating.
            "PVConn": 0b111 if pv > 0 else 0b011,
            "StorConn": 0b111 if self.hybrid else 0,
            "ECPConn": 1,
            "ActWh": int(self.initial_ac_energy_wh + self.site.pv_energy_wh),
        }

    def _string(self, index: int) -> GroupData:
        """Return one 804 string: the site battery split evenly over strings.

        Each string carries the whole pack's voltage and its share of the
        current; its modules show the cells a little apart, so the string's
        extremes are the modules' extremes.
        """
        battery = self.site.battery
        modules = self.battery_strings[index]
        cell_volts = battery.terminal_voltage / battery.cells_in_series
        spreads = [(module - (modules - 1) / 2) * 0.002 for module in range(modules)]
        module_data: list[GroupData] = [
            {
                "ModNCell": battery.cells_in_series // modules,
                "ModSoC": 100.0 * battery.soc,
                "ModCellVMax": cell_volts + spread + _CELL_SPREAD_V / 2,
                "ModCellVMin": cell_volts + spread - _CELL_SPREAD_V / 2,
                "ModCellVAvg": cell_volts + spread,
                "ModCellTmpMax": 26.0 + module,
                "ModCellTmpMin": 24.0 + module,
                "ModCellTmpAvg": 25.0 + module,
            }
            for module, spread in enumerate(spreads)
        ]
        return {
            "Idx": index + 1,
            "NMod": modules,
            "St": 0b11,  # enabled, contactor closed
            "SoC": 100.0 * battery.soc,
            "SoH": 98.0,
            "NCyc": 42 + index,
            "A": -battery.current / len(self.battery_strings),
            "V": battery.terminal_voltage,
            "CellVMax": cell_volts + spreads[-1] + _CELL_SPREAD_V / 2,
            "CellVMaxMod": modules,
            "CellVMin": cell_volts + spreads[0] - _CELL_SPREAD_V / 2,
            "CellVMinMod": 1,
            "CellVAvg": cell_volts,
            "ModTmpMax": 24.0 + modules + 1,
            "ModTmpMaxMod": modules,
            "ModTmpMin": 24.0,
            "ModTmpMinMod": 1,
            "ModTmpAvg": 25.0 + (modules - 1) / 2,
            "Evt1": 0,
            "SoC_SF": -1,
            "SoH_SF": 0,
            "A_SF": -1,
            "V_SF": -1,
            "CellV_SF": -3,
            "ModTmp_SF": -1,
            "lithium_ion_string_module": module_data,
        }

    def _nameplate(self, _: GroupValues | None) -> GroupData:
        """Return model 120: the ratings."""
        battery = self.site.battery
        max_battery_w = self.site.battery_max_power_w
        return {
            "DERTyp": 82,  # PV_STOR
            "WRtg": self.rated_w,
            "WRtg_SF": 0,
            "VARtg": self.rated_w,
            "VARtg_SF": 0,
            "VArRtgQ1": self.rated_w / 2,
            "VArRtgQ2": self.rated_w / 2,
            "VArRtgQ3": -self.rated_w / 2,
            "VArRtgQ4": -self.rated_w / 2,
            "VArRtg_SF": 0,
            "ARtg": self.rated_w / 230 / 3,
            "ARtg_SF": -1,
            "PFRtgQ1": 0.8,
            "PFRtgQ2": 0.8,
            "PFRtgQ3": -0.8,
            "PFRtgQ4": -0.8,
            "PFRtg_SF": -2,
            "WHRtg": battery.capacity_ah * battery.ocv,
            "WHRtg_SF": 0,
            "AhrRtg": battery.capacity_ah,
            "AhrRtg_SF": 0,
            "MaxChaRte": max_battery_w,
            "MaxChaRte_SF": 0,
            "MaxDisChaRte": max_battery_w,
            "MaxDisChaRte_SF": 0,
        }

    def _controls(self, _: GroupValues | None) -> GroupData:
        """Return model 123: no limit until one is written."""
        return {
            "Conn": 1,
            "WMaxLimPct": 100.0,
            "WMaxLimPct_RvrtTms": 0,
            "WMaxLim_Ena": 0,
            "OutPFSet": 1.0,
            "OutPFSet_Ena": 0,
            "VArPct_Ena": 0,
            "WMaxLimPct_SF": -1,
            "OutPFSet_SF": -3,
        }

    def _storage_state(self) -> int:
        """Return the storage state of the battery now (124/802 ``ChaSt``)."""
        power = self.site.battery_power_w
        if power > 0:
            return _CHARGING
        if power < 0:
            return _DISCHARGING
        return _HOLDING

    def _storage(self, _: GroupValues | None) -> GroupData:
        """Return model 124: the battery as the inverter controls it."""
        battery = self.site.battery
        return {
            "WChaMax": self.site.battery_max_power_w,
            "WChaGra": 100.0,
            "WDisChaGra": 100.0,
            "StorCtl_Mod": 0,
            "MinRsvPct": 100.0 * self.site.soc_min,
            "ChaState": 100.0 * battery.soc,
            "StorAval": battery.charge_ah,
            "InBatV": battery.terminal_voltage,
            "ChaSt": self._storage_state(),
            "OutWRte": 100.0,
            "InWRte": 100.0,
            "InOutWRte_RvrtTms": 0,
            "ChaGriSet": 1,
            "WChaMax_SF": 0,
            "WChaDisChaGra_SF": 0,
            "MinRsvPct_SF": 0,
            "ChaState_SF": -1,
            "StorAval_SF": -1,
            "InBatV_SF": -1,
            "InOutWRte_SF": -2,
        }

    def _mppts(self, _: GroupValues | None) -> GroupData:
        """Return model 160: the PV split over the modules."""
        pv = self._powers()[0]
        modules: list[GroupData] = []
        for index, share in enumerate(self.mppt_shares):
            power = pv * share
            volts = self._string_voltage(pv) if power > 0 else 0.0
            modules.append(
                {
                    "ID": index + 1,
                    "IDStr": f"PV{index + 1}",
                    "DCA": power / volts if volts else 0.0,
                    "DCV": volts,
                    "DCW": power,
                    "DCWH": self.site.pv_energy_wh * share + 1000.0,
                    "Tms": int(self.site.time) & 0xFFFFFFFF,
                    "Tmp": 35,
                    "DCSt": 4 if power > 0 else 2,
                    "DCEvt": 0,
                }
            )
        return {
            "DCA_SF": -2,
            "DCV_SF": -1,
            "DCW_SF": 0,
            "DCWH_SF": 0,
            "Evt": 0,
            "N": len(modules),
            "TmsPer": 0,
            "module": modules,
        }

    def _battery(self, _: GroupValues | None) -> GroupData:
        """Return model 802 (discharge > 0, as SunSpec's DER models count)."""
        battery = self.site.battery
        cell_volts = battery.terminal_voltage / battery.cells_in_series
        max_w = self.site.battery_max_power_w
        volts = battery.terminal_voltage
        return {
            "AHRtg": battery.capacity_ah,
            "WHRtg": battery.capacity_ah * battery.ocv,
            "WChaRteMax": max_w,
            "WDisChaRteMax": max_w,
            "SoCMax": 100.0 * self.site.soc_max,
            "SoCMin": 100.0 * self.site.soc_min,
            "SoC": 100.0 * battery.soc,
            "SoH": 100.0,
            "NCyc": 42,
            "ChaSt": self._storage_state(),
            "LocRemCtl": 0,
            "AlmRst": 0,
            "Typ": 4,  # LITHIUM_ION
            "State": 3,  # CONNECTED
            "Evt1": 0,
            "Evt2": 0,
            "EvtVnd1": 0,
            "EvtVnd2": 0,
            "V": volts,
            "CellVMax": cell_volts + _CELL_SPREAD_V / 2,
            "CellVMin": cell_volts - _CELL_SPREAD_V / 2,
            "CellVAvg": cell_volts,
            "A": -battery.current,
            "AChaMax": max_w / volts,
            "ADisChaMax": max_w / volts,
            "W": -self.site.battery_power_w,
            "SetOp": 1,
            "SetInvState": 3,
            "AHRtg_SF": 0,
            "WHRtg_SF": 0,
            "WChaDisChaMax_SF": 0,
            "SoC_SF": -1,
            "SoH_SF": 0,
            "V_SF": -1,
            "CellV_SF": -3,
            "A_SF": -1,
            "AMax_SF": -1,
            "W_SF": 0,
        }

    def _meter(self, _: GroupValues | None) -> GroupData:
        """Return model 203 from the site's grid meter (import > 0)."""
        grid = self.site.grid_meter_values()
        data: dict[str, object] = {
            "A": sum(grid[f"ac_current_l{n}"] for n in (1, 2, 3)),
            "A_SF": -2,
            "PhV": sum(grid[f"ac_voltage_l{n}"] for n in (1, 2, 3)) / 3,
            "V_SF": -1,
            "Hz": grid["frequency"],
            "Hz_SF": -2,
            "W": self.meter_sign * grid["grid_power"],
            "W_SF": 0,
            "VA": grid["grid_apparent_power"],
            "VA_SF": 0,
            "VAR": self.meter_sign * grid["grid_reactive_power"],
            "VAR_SF": 0,
            "PF": 100.0 * grid["grid_power_factor"],
            "PF_SF": -1,
            "TotWhExp": grid["grid_export_energy"],
            "TotWhImp": grid["grid_import_energy"],
            "TotWh_SF": 0,
            "Evt": 0,
        }
        for number, phase in enumerate(_PHASES, start=1):
            power = grid[f"grid_power_l{number}"]
            data[f"Aph{phase}"] = math.copysign(grid[f"ac_current_l{number}"], power)
            data[f"PhVph{phase}"] = grid[f"ac_voltage_l{number}"]
            data[f"Wph{phase}"] = self.meter_sign * power
            data[f"TotWhExpPh{phase}"] = grid[f"grid_export_energy_l{number}"]
            data[f"TotWhImpPh{phase}"] = grid[f"grid_import_energy_l{number}"]
        for pair, key in (("AB", "l1_l2"), ("BC", "l2_l3"), ("CA", "l3_l1")):
            data[f"PPVph{pair}"] = grid[f"ac_voltage_{key}"]
        return data

    # Requests.

    def refresh(self, registers: list[int] | None = None) -> None:
        """Bring every model up to the site now, keeping written settings."""
        if self.sync is not None:
            self.sync()
        target = self._words if registers is None else registers
        for model in self.models:
            start = model.address - self.base_address
            settings = decode_model(
                model.definition, target[start : start + model.count]
            )
            words = encode_model(
                model.definition,
                self._data(model.definition, settings, model.instance),
            )
            target[start : start + model.count] = words[: model.count]
            if registers is not None:
                self._words[start : start + model.count] = words[: model.count]
        self.obey()

    async def _action(  # noqa: PLR0917 - pymodbus' SimAction signature
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Answer a request from the live site, or take a write."""
        self.requests += 1
        end = address + count
        for model in self.models:
            if model.definition.id in self.failing_models and (
                model.address < end and address < model.end
            ):
                return ExcCodes.GATEWAY_NO_RESPONSE
        if function_code in _WRITES and set_values is not None:
            return self._write(address, [int(v) for v in set_values], registers)
        if function_code == _READ_HOLDING:
            self.refresh(registers)
        return None

    def _write(
        self, address: int, values: list[int], registers: list[int]
    ) -> ExcCodes | None:
        """Check a write against the writable points and their ranges."""
        touched: dict[int, EmulatedModel] = {}
        for index in range(len(values)):
            entry = self._writable.get(address + index)
            if entry is None:
                return ExcCodes.ILLEGAL_ADDRESS
            touched[entry[0].address] = entry[0]
        for model in touched.values():
            start = model.address - self.base_address
            trial = list(registers[start : start + model.count])
            for index, value in enumerate(values):
                offset = address + index - model.address
                if 0 <= offset < model.count:
                    trial[offset] = value
            decoded = decode_model(model.definition, trial)
            for name, (low, high) in _WRITE_RANGES.items():
                number = decoded.number(name)
                if number is not None and not low <= number <= high:
                    return ExcCodes.ILLEGAL_VALUE
            self._words[start : start + model.count] = trial
            if model.definition.id == 123:
                self._limit_set_at = self.site.time
            if model.definition.id == 124:
                self._rates_set_at = self.site.time
        self.writes.append((address, values))
        self.obey()
        return None


def parse_register_dump(text: str) -> list[int | None]:
    """Return the registers of a dump: 4-hex-digit words, ``#`` comments.

    ``----`` marks a register the device did not answer (None).
    """
    words: list[int | None] = []
    for line in text.splitlines():
        for token in line.split("#", 1)[0].split():
            words.append(None if token == "----" else int(token, 16))
    return words


def register_image_device(
    unit: int, start_address: int, words: Iterable[int | None]
) -> SimDevice:
    """Return a device holding a register image from ``start_address``.

    Registers given as None, and everything outside the image, answer
    "illegal data address", as the captured device did.
    """
    runs: list[SimData] = []
    run: list[int] = []
    run_start = start_address
    for address, word in enumerate(words, start=start_address):
        if word is None:
            if run:
                runs.append(SimData(run_start, values=run, datatype=DataType.UINT16))
            run = []
            run_start = address + 1
            continue
        run.append(word)
    if run:
        runs.append(SimData(run_start, values=run, datatype=DataType.UINT16))
    if not runs:
        raise ValueError("a register image needs at least one register")
    return SimDevice(id=unit, simdata=runs)
