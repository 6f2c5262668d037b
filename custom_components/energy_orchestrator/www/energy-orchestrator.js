/**
 * Energy Orchestrator's dashboard: the plan card and the site strategy.
 *
 * A plain ES module with no build step and no dependency. The integration
 * serves it and the frontend loads it for every user (dashboard.py); the
 * websocket command `energy_orchestrator/site` says which entities each
 * controller has and which it reads.
 *
 * - `custom:energy-orchestrator-plan-card` draws a peak-shaving plan against
 *   time: the planned grid power and the forecast net load, the planned SOC,
 *   the limit and the billed peak ahead; the measured grid, PV, SOC, car and
 *   loads behind (from the recorder's history). A plan row may carry
 *   `start`, `soc`, `grid_power`, `net_load`, `load`, `pv`, `car` and
 *   `loads` ({name: W}); what a row lacks is not drawn.
 * - `custom:energy-orchestrator` is a dashboard strategy: the plan, the
 *   controllers with their state and reason, the devices, and the Energy
 *   dashboard's cards.
 */

const DOMAIN = "energy_orchestrator";
const CARD = "energy-orchestrator-plan-card";
const MINUTE = 60e3;
const HOUR = 60 * MINUTE;
// The past is drawn in bins this long, and read again this often.
const BIN = 5 * MINUTE;
const HISTORY_EVERY = 5 * MINUTE;
const DEFAULT_STEP = 15 * MINUTE;
const DEFAULTS = { hours_past: 24, hours_ahead: 48 };

// The drawing's size in SVG units; it scales to the card's width.
const WIDTH = 720;
const HEIGHT = 260;
const MARGIN = { left: 46, right: 40, top: 14, bottom: 28 };

const COLORS = {
  grid: "var(--energy-grid-consumption-color, #488fc2)",
  net: "var(--secondary-text-color, #727272)",
  pv: "var(--energy-solar-color, #ff9800)",
  soc: "var(--energy-battery-out-color, #4db6ac)",
  limit: "var(--error-color, #db4437)",
  billed: "var(--warning-color, #ffa600)",
  car: "var(--purple-color, #926bc7)",
};
const LOAD_COLORS = [
  "var(--cyan-color, #00bcd4)",
  "var(--pink-color, #e91e63)",
  "var(--lime-color, #cddc39)",
  "var(--brown-color, #795548)",
];
const POWER_UNITS = { W: 1, kW: 1e3, MW: 1e6 };

/** Return text safe inside HTML and SVG. */
const escape = (text) =>
  String(text).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );

/** Return a number, or NaN for anything that is not one. */
const number = (value) =>
  value === null || value === undefined || value === "" ? NaN : Number(value);

/** Return a power state in W (its unit may be kW), NaN where there is none. */
function watts(stateObj) {
  if (!stateObj) return NaN;
  const unit = stateObj.attributes?.unit_of_measurement ?? "W";
  return number(stateObj.state) * (POWER_UNITS[unit] ?? 1);
}

/** Return the plan's rows, sorted, each with its end; bad rows left out. */
function planRows(plan) {
  if (!Array.isArray(plan)) return [];
  const rows = plan
    .filter((row) => row && typeof row === "object")
    .map((row) => ({
      t: Date.parse(row.start),
      soc: number(row.soc),
      grid: number(row.grid_power),
      net: number(row.net_load),
      load: number(row.load),
      pv: number(row.pv),
      car: number(row.car ?? row.ev_power),
      loads: row.loads && typeof row.loads === "object" ? row.loads : {},
    }))
    .filter((row) => Number.isFinite(row.t))
    .sort((a, b) => a.t - b.t);
  rows.forEach((row, index) => {
    const next = rows[index + 1];
    const previous = rows[index - 1];
    row.end = next ? next.t : row.t + (previous ? row.t - previous.t : DEFAULT_STEP);
  });
  return rows;
}

/** Return [t, value] points from a compressed history (value NaN where none). */
function historyPoints(states, scale) {
  if (!Array.isArray(states)) return [];
  return states
    .map((item) => [1000 * number(item.lu ?? item.lc), number(item.s) * scale])
    .filter(([t]) => Number.isFinite(t));
}

/** Return the time-weighted mean of a history in each bin from t0 to t1. */
function binned(points, t0, t1) {
  const bins = [];
  let index = 0;
  let current = NaN;
  while (index < points.length && points[index][0] <= t0) {
    current = points[index][1];
    index += 1;
  }
  for (let start = t0; start < t1; start += BIN) {
    const end = Math.min(start + BIN, t1);
    let sum = 0;
    let span = 0;
    let at = start;
    while (index < points.length && points[index][0] < end) {
      if (Number.isFinite(current)) {
        sum += current * (points[index][0] - at);
        span += points[index][0] - at;
      }
      at = points[index][0];
      current = points[index][1];
      index += 1;
    }
    if (Number.isFinite(current)) {
      sum += current * (end - at);
      span += end - at;
    }
    bins.push([(start + end) / 2, span > 0 ? sum / span : NaN]);
  }
  return bins;
}

/** Return a tidy step for an axis from 0 to ``span`` in about ``count`` steps. */
function niceStep(span, count) {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((f) => f * power).find((step) => step >= raw);
}

/** Return the hour of ``t`` where the user reads time. */
function hourIn(format, t) {
  const part = format.formatToParts(new Date(t)).find((p) => p.type === "hour");
  return part ? Number(part.value) % 24 : new Date(t).getUTCHours();
}

/** Return the time zone the user reads time in (the server's by default). */
function timeZone(hass) {
  return hass.locale?.time_zone === "local" ? undefined : hass.config?.time_zone;
}

/** Return a time formatter for the user, in the user's time zone. */
function timeFormat(hass, options) {
  const language = hass.locale?.language || hass.language || "en";
  try {
    return new Intl.DateTimeFormat(language, { ...options, timeZone: timeZone(hass) });
  } catch (err) {
    return new Intl.DateTimeFormat(language, options);
  }
}

/** Return a reason as the user reads it: translated where the frontend can. */
function reasonText(hass, stateObj, attribute) {
  const raw = stateObj?.attributes?.[attribute];
  if (raw === undefined || raw === null || raw === "") return "";
  let text = String(raw);
  try {
    if (hass.formatEntityAttributeValue) {
      text = String(hass.formatEntityAttributeValue(stateObj, attribute));
    }
  } catch (err) {
    text = String(raw);
  }
  if (text === String(raw)) {
    text = text.replace(/_/g, " ");
    text = text.charAt(0).toUpperCase() + text.slice(1);
  }
  return text;
}

/** Return a state as the user reads it. */
function stateText(hass, stateObj) {
  if (!stateObj) return "";
  try {
    if (hass.formatEntityState) return String(hass.formatEntityState(stateObj));
  } catch (err) {
    // The raw state below.
  }
  return stateObj.state;
}

/** Return a power in kW as the user reads numbers. */
function kilowatts(hass, watt) {
  const language = hass.locale?.language || "en";
  return `${(watt / 1000).toLocaleString(language, { maximumFractionDigits: 1 })} kW`;
}

/** Draw the chart; return the SVG's markup. */
function drawChart(hass, chart) {
  const { t0, t1, now, power, soc, lines, markers } = chart;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (t) => MARGIN.left + ((t - t0) / (t1 - t0)) * plotW;
  const values = [
    0,
    ...power.flatMap((s) => s.points.map((p) => p[1])),
    ...lines.map((l) => l.value),
  ].filter(Number.isFinite);
  let low = Math.min(...values);
  let high = Math.max(...values, 1000);
  const step = niceStep((high - low) * 1.1 || 1000, 5);
  low = Math.floor(low / step) * step;
  high = Math.ceil((high * 1.05) / step) * step;
  const y = (w) => MARGIN.top + ((high - w) / (high - low)) * plotH;
  const ySoc = (s) => MARGIN.top + ((100 - s) / 100) * plotH;
  const parts = [];

  // The power axis (kW) on the left, its grid lines; SOC (%) on the right.
  for (let w = low; w <= high + 1e-6; w += step) {
    const at = y(w).toFixed(1);
    parts.push(
      `<line class="grid${w === 0 ? " zero" : ""}" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${at}" y2="${at}"/>`,
      `<text class="axis" x="${MARGIN.left - 6}" y="${at}" text-anchor="end" dominant-baseline="middle">${escape(kilowatts(hass, w))}</text>`,
    );
  }
  if (soc.length) {
    for (const s of [0, 50, 100]) {
      parts.push(
        `<text class="axis" x="${WIDTH - MARGIN.right + 6}" y="${ySoc(s).toFixed(1)}" dominant-baseline="middle">${s} %</text>`,
      );
    }
  }

  // Time: a label every few hours of the user's clock, and now.
  const hours = (t1 - t0) / HOUR;
  const every = [1, 2, 3, 6, 12, 24].find((h) => hours / h <= 8) ?? 24;
  const hourFormat = timeFormat(hass, { hour: "numeric", hourCycle: "h23" });
  const label = timeFormat(hass, { hour: "2-digit", minute: "2-digit" });
  for (let t = Math.ceil(t0 / HOUR) * HOUR; t <= t1; t += HOUR) {
    if (hourIn(hourFormat, t) % every !== 0) continue;
    const at = x(t).toFixed(1);
    parts.push(
      `<line class="tick" x1="${at}" x2="${at}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}"/>`,
      `<text class="axis" x="${at}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${escape(label.format(new Date(t)))}</text>`,
    );
  }
  if (now > t0 && now < t1) {
    parts.push(
      `<rect class="ahead" x="${x(now).toFixed(1)}" y="${MARGIN.top}" width="${(x(t1) - x(now)).toFixed(1)}" height="${plotH}"/>`,
      `<line class="now" x1="${x(now).toFixed(1)}" x2="${x(now).toFixed(1)}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}"/>`,
    );
  }

  // Each unbroken run of values, as SVG points; NaN breaks a run.
  const runs = (points, scale, stepped) => {
    const all = [];
    let run = null;
    for (const [t, v, end] of points) {
      if (!Number.isFinite(v) || t > t1 || (end ?? t) < t0) {
        run = null;
        continue;
      }
      if (!run) all.push((run = []));
      const level = scale(v).toFixed(1);
      run.push([x(Math.max(t, t0)).toFixed(1), level]);
      if (stepped) run.push([x(Math.min(end, t1)).toFixed(1), level]);
    }
    return all;
  };
  const line = (all) => all.map((run) => `M${run.map((p) => p.join(",")).join("L")}`).join("");
  const draw = (series, scale, className) => {
    const all = runs(series.points, scale, series.stepped);
    if (!all.length) return;
    if (series.area) {
      // Closed down to 0 W: the sun's share of the picture.
      const base = y(0).toFixed(1);
      const area = all
        .map((run) => `${line([run])}L${run[run.length - 1][0]},${base}L${run[0][0]},${base}Z`)
        .join("");
      parts.push(`<path class="area" d="${area}" fill="${series.color}"/>`);
    }
    parts.push(
      `<path class="${className}${series.dashed ? " dashed" : ""}" d="${line(all)}" stroke="${series.color}" data-series="${escape(series.key)}"><title>${escape(series.name)}</title></path>`,
    );
  };
  for (const series of [...power.filter((s) => s.area), ...power.filter((s) => !s.area)]) {
    draw(series, y, "series");
  }
  for (const series of soc) draw(series, ySoc, "series soc");
  for (const level of lines) {
    const from = x(Math.max(level.from ?? t0, t0)).toFixed(1);
    const at = y(level.value).toFixed(1);
    parts.push(
      `<line class="level" x1="${from}" x2="${x(t1).toFixed(1)}" y1="${at}" y2="${at}" stroke="${level.color}" data-series="${escape(level.key)}"><title>${escape(level.name)}</title></line>`,
    );
  }
  for (const marker of markers) {
    if (marker.t < t0 || marker.t > t1) continue;
    const at = x(marker.t).toFixed(1);
    parts.push(
      `<line class="marker" x1="${at}" x2="${at}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="${marker.color}" data-series="${escape(marker.key)}"><title>${escape(marker.name)}</title></line>`,
    );
  }
  return `<svg class="plan" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="The plan against time">${parts.join("")}</svg>`;
}

const STYLE = `
  ha-card { overflow: hidden; }
  .content { padding: 0 16px 12px; }
  .status { color: var(--secondary-text-color); margin: 0 0 8px; }
  .status b { color: var(--primary-text-color); font-weight: 500; }
  .notice { margin: 8px 0; padding: 8px 12px; border-radius: 8px;
    background: var(--secondary-background-color); }
  svg.plan { width: 100%; height: auto; display: block; }
  svg .grid { stroke: var(--divider-color, #e0e0e0); stroke-width: 1; }
  svg .grid.zero { stroke: var(--secondary-text-color); stroke-opacity: 0.5; }
  svg .tick { stroke: var(--divider-color, #e0e0e0); stroke-dasharray: 2 4; }
  svg .axis { fill: var(--secondary-text-color); font-size: 11px; }
  svg .ahead { fill: var(--primary-color); fill-opacity: 0.04; }
  svg .now { stroke: var(--primary-text-color); stroke-width: 1; stroke-opacity: 0.6; }
  svg .series { fill: none; stroke-width: 2; stroke-linejoin: round; }
  svg .series.dashed { stroke-dasharray: 6 3; }
  svg .area { fill-opacity: 0.18; stroke: none; }
  svg .level { stroke-width: 1.5; stroke-dasharray: 8 4; }
  svg .marker { stroke-width: 1.5; stroke-dasharray: 2 2; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 6px;
    color: var(--secondary-text-color); font-size: 12px; }
  .legend span::before { content: ""; display: inline-block; width: 14px; height: 3px;
    margin: 0 6px 3px 0; background: var(--swatch); vertical-align: middle; }
  .legend span.dashed::before { background: repeating-linear-gradient(90deg,
    var(--swatch) 0 5px, transparent 5px 8px); }
`;

/** The plan card: one peak-shaving entry's plan against time. */
class EnergyOrchestratorPlanCard extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._site = undefined; // the websocket's answer; null when it failed
    this._history = null;
    this._historyAt = 0;
    this._drawn = "";
  }

  /** Take the card's configuration (all of it optional). */
  setConfig(config) {
    if (!config || typeof config !== "object") {
      throw new Error("The plan card's configuration must be a mapping");
    }
    for (const key of ["hours_past", "hours_ahead"]) {
      if (config[key] !== undefined && !(Number(config[key]) > 0)) {
        throw new Error(`${key} must be a number of hours above 0`);
      }
    }
    if (config.loads !== undefined && !Array.isArray(config.loads)) {
      throw new Error("loads must be a list of power entities");
    }
    this._config = { ...DEFAULTS, ...config };
    this._history = null;
    this._historyAt = 0;
    this._drawn = "";
    this._update();
  }

  set hass(hass) {
    this._hass = hass;
    this._update();
  }

  get hass() {
    return this._hass;
  }

  getCardSize() {
    return 6;
  }

  getGridOptions() {
    // As tall as the drawing at the width it gets.
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  static getStubConfig() {
    return {};
  }

  /** Load what is missing, then draw if anything drawn has changed. */
  _update() {
    const hass = this._hass;
    if (!hass || !this._config) return;
    if (this._site === undefined) {
      this._site = "loading";
      hass
        .callWS({ type: `${DOMAIN}/site` })
        .then((site) => {
          this._site = site && Array.isArray(site.entries) ? site : { entries: [] };
        })
        .catch(() => {
          this._site = null;
        })
        .finally(() => this._update());
      this._render();
      return;
    }
    if (this._site === "loading") return;
    const view = this._view();
    if (view.entities.length && Date.now() - this._historyAt > HISTORY_EVERY) {
      this._historyAt = Date.now();
      this._loadHistory(view);
    }
    this._render(view);
  }

  /** Return the entry drawn and the entities it needs, from the config and the site. */
  _view() {
    const config = this._config;
    const entries = this._site?.entries ?? [];
    const shavers = entries.filter((e) => e.kind === "peak_shaving");
    let entry;
    if (config.config_entry_id) {
      entry = entries.find((e) => e.entry_id === config.config_entry_id);
    } else if (config.entity) {
      entry = shavers.find((e) => Object.values(e.entities ?? {}).includes(config.entity));
    } else {
      entry = shavers[0];
    }
    const own = entry?.entities ?? {};
    const states = this._hass.states;
    // Whichever entity carries the plan, should a later version move it.
    const planEntity =
      config.entity ??
      (own.planned_peak && states[own.planned_peak] ? own.planned_peak : undefined) ??
      Object.values(own).find((id) => Array.isArray(states[id]?.attributes?.plan));
    const inputs = entry?.inputs ?? {};
    const batteries = entry?.batteries ?? [];
    const cars = entries
      .filter((e) => e.kind === "wallbox_manager")
      .map((e) => ({
        title: e.title,
        power: e.inputs?.ev_power,
        deadline: e.entities?.deadline_start,
      }));
    const measured = {
      grid: inputs.grid_power,
      pv: inputs.pv_power,
      // A bank's SOC is not one battery's: drawn for a single battery only.
      soc: batteries.length ? undefined : inputs.battery_soc,
      batteries: [inputs.battery_power, ...batteries.map((b) => b.inputs?.battery_power)],
      cars: cars.map((car) => car.power),
      loads: config.loads ?? [],
    };
    const entities = [
      measured.grid,
      measured.pv,
      measured.soc,
      ...measured.batteries,
      ...measured.cars,
      ...measured.loads,
    ].filter((id) => typeof id === "string" && id);
    return {
      entry,
      found: Boolean(entry || config.entity),
      wrongKind: Boolean(entry && entry.kind !== "peak_shaving"),
      planEntity,
      stateEntity: own.state,
      limitEntity: own.active_import_limit,
      billedEntity: own.billed_peak,
      cars,
      measured,
      entities: [...new Set(entities)],
    };
  }

  /** Read the measured past from the recorder, then draw again. */
  _loadHistory(view) {
    const now = Date.now();
    const start = new Date(now - this._config.hours_past * HOUR);
    this._hass
      .callWS({
        type: "history/history_during_period",
        start_time: start.toISOString(),
        end_time: new Date(now).toISOString(),
        entity_ids: view.entities,
        minimal_response: true,
        no_attributes: true,
        significant_changes_only: false,
      })
      .then((history) => {
        this._history = history && typeof history === "object" ? history : {};
      })
      .catch(() => {
        // No recorder, or no access: the plan is drawn without its past.
        this._history = {};
      })
      .finally(() => {
        this._drawn = "";
        this._update();
      });
  }

  /** Draw the card, unless nothing it shows has changed. */
  _render(view) {
    const hass = this._hass;
    const root = this.shadowRoot;
    if (!view) {
      this._paint("", '<p class="notice">Loading the plan…</p>');
      return;
    }
    const states = hass.states;
    const watched = [view.planEntity, view.stateEntity, view.limitEntity, view.billedEntity]
      .concat(view.cars.map((car) => car.deadline))
      .map((id) => (id ? `${id}@${states[id]?.last_updated}` : ""));
    const signature = JSON.stringify([watched, Math.floor(Date.now() / MINUTE), this._history !== null]);
    if (signature === this._drawn && root.firstChild) return;
    this._drawn = signature;
    const title = this._config.title ?? (view.entry ? `${view.entry.title}: plan` : "Plan");
    if (!view.found) {
      const why =
        this._site === null
          ? "Energy Orchestrator does not answer: is the integration loaded?"
          : this._config.config_entry_id
            ? `No entry ${this._config.config_entry_id} of Energy Orchestrator.`
            : "No peak shaving is set up: add it under Settings → Devices & services → Energy Orchestrator.";
      this._paint(title, `<p class="notice">${escape(why)}</p>`);
      return;
    }
    if (view.wrongKind) {
      this._paint(title, `<p class="notice">${escape(view.entry.title)} is not peak shaving: it has no plan to draw.</p>`);
      return;
    }
    this._paint(title, this._body(view));
  }

  /** Return the card's content: the state and reason, the chart, its legend. */
  _body(view) {
    const hass = this._hass;
    const states = hass.states;
    const planObj = states[view.planEntity];
    const stateObj = states[view.stateEntity];
    const rows = planRows(planObj?.attributes?.plan);
    const now = Date.now();
    const config = this._config;
    const t0 = now - config.hours_past * HOUR;
    const planEnd = rows.length ? rows[rows.length - 1].end : now;
    const t1 = Math.min(Math.max(planEnd, now + HOUR), now + config.hours_ahead * HOUR);
    const status = [];
    if (stateObj) {
      const reason = reasonText(hass, stateObj, "reason");
      status.push(`<b>${escape(stateText(hass, stateObj))}</b>${reason ? ` · ${escape(reason)}` : ""}`);
    }
    const limit = watts(states[view.limitEntity]);
    const billed = watts(states[view.billedEntity]);
    const peak = watts(planObj);
    if (Number.isFinite(peak)) status.push(`planned peak ${escape(kilowatts(hass, peak))}`);
    if (Number.isFinite(billed)) status.push(`billed peak ${escape(kilowatts(hass, billed))}`);
    let notice = "";
    if (!rows.length) {
      const reason = reasonText(hass, stateObj, "reason");
      notice = !planObj
        ? "The plan's entity is missing."
        : stateObj?.state === "stopped"
          ? "No plan: peak shaving is stopped."
          : `No plan yet${reason ? `: ${reason}` : ""}.`;
    }

    const chart = { t0, t1, now, power: [], soc: [], lines: [], markers: [] };
    const history = this._history ?? {};
    const past = (id) => {
      if (!id || !history[id]) return null;
      const unit = states[id]?.attributes?.unit_of_measurement ?? "W";
      return binned(historyPoints(history[id], POWER_UNITS[unit] ?? 1), t0, now);
    };
    const ahead = (field) =>
      rows.some((row) => Number.isFinite(row[field]))
        ? rows.map((row) => [row.t, row[field], row.end])
        : null;
    const add = (list, series) => {
      if (series.points && series.points.some((p) => Number.isFinite(p[1]))) list.push(series);
    };
    const m = view.measured;
    const grid = past(m.grid);
    const pv = past(m.pv);
    add(chart.power, { key: "pv_measured", name: "PV", color: COLORS.pv, points: pv, area: true });
    add(chart.power, { key: "pv_forecast", name: "PV forecast", color: COLORS.pv, points: ahead("pv"), stepped: true, dashed: true });
    const batteryPast = m.batteries.filter(Boolean).map(past);
    if (grid && batteryPast.length && batteryPast.every(Boolean)) {
      // Net load: what the grid would have carried without the battery.
      const net = grid.map(([t, g], i) => [t, g - batteryPast.reduce((sum, b) => sum + b[i][1], 0)]);
      add(chart.power, { key: "net_load_measured", name: "Net load (load − PV)", color: COLORS.net, points: net });
    }
    add(chart.power, { key: "net_load_forecast", name: "Net load forecast", color: COLORS.net, points: ahead("net"), stepped: true, dashed: true });
    add(chart.power, { key: "load_forecast", name: "Load forecast", color: COLORS.net, points: ahead("load"), stepped: true, dashed: true });
    add(chart.power, { key: "grid_measured", name: "Grid", color: COLORS.grid, points: grid });
    add(chart.power, { key: "grid_planned", name: "Grid planned", color: COLORS.grid, points: ahead("grid"), stepped: true, dashed: true });
    view.cars.forEach((car, index) => {
      const name = view.cars.length > 1 ? `Car (${car.title})` : "Car";
      add(chart.power, { key: `car_${index}`, name, color: COLORS.car, points: past(car.power) });
      const deadline = Date.parse(states[car.deadline]?.state);
      if (Number.isFinite(deadline)) {
        chart.markers.push({ key: `deadline_${index}`, name: `${name}: deadline charging starts`, color: COLORS.car, t: deadline });
      }
    });
    add(chart.power, { key: "car_planned", name: "Car planned", color: COLORS.car, points: ahead("car"), stepped: true, dashed: true });
    const loadNames = [
      ...m.loads.map((id) => states[id]?.attributes?.friendly_name ?? id),
      ...new Set(rows.flatMap((row) => Object.keys(row.loads))),
    ];
    m.loads.forEach((id, index) => {
      add(chart.power, { key: `load_${index}`, name: loadNames[index], color: LOAD_COLORS[index % LOAD_COLORS.length], points: past(id) });
    });
    loadNames.slice(m.loads.length).forEach((name, index) => {
      const points = rows.map((row) => [row.t, number(row.loads[name]), row.end]);
      const color = LOAD_COLORS[(m.loads.length + index) % LOAD_COLORS.length];
      add(chart.power, { key: `load_planned_${index}`, name: `${name} planned`, color, points, stepped: true, dashed: true });
    });
    add(chart.soc, { key: "soc_measured", name: "State of charge", color: COLORS.soc, points: past(m.soc) });
    add(chart.soc, { key: "soc_planned", name: "State of charge planned", color: COLORS.soc, points: ahead("soc"), dashed: true });
    if (Number.isFinite(limit)) {
      chart.lines.push({ key: "limit", name: `Limit ${kilowatts(hass, limit)}`, color: COLORS.limit, value: limit, from: now });
    }
    if (Number.isFinite(billed) && billed > 0) {
      chart.lines.push({ key: "billed_peak", name: `Billed peak ${kilowatts(hass, billed)}`, color: COLORS.billed, value: billed });
    }

    const drawn = [...chart.power, ...chart.soc, ...chart.lines, ...chart.markers];
    const legend = drawn
      .map((s) => `<span class="${s.dashed ? "dashed" : ""}" style="--swatch: ${s.color}">${escape(s.name)}</span>`)
      .join("");
    const svg = drawn.length ? drawChart(hass, chart) : "";
    return (
      (status.length ? `<p class="status">${status.join(" · ")}</p>` : "") +
      (notice ? `<p class="notice">${escape(notice)}</p>` : "") +
      svg +
      (legend ? `<div class="legend">${legend}</div>` : "")
    );
  }

  /** Put a title and content into the card. */
  _paint(title, content) {
    this.shadowRoot.innerHTML =
      `<style>${STYLE}</style>` +
      `<ha-card${title ? ` header="${escape(title)}"` : ""}><div class="content">${content}</div></ha-card>`;
  }
}

/** The dashboard strategy: the site as Energy Orchestrator knows it. */
class EnergyOrchestratorStrategy extends HTMLElement {
  static async generate(config, hass) {
    let site;
    try {
      site = await hass.callWS({ type: `${DOMAIN}/site` });
    } catch (err) {
      return {
        title: config.title ?? "Site",
        views: [{ title: "Site", cards: [{ type: "markdown", content: "Energy Orchestrator does not answer: is the integration loaded?" }] }],
      };
    }
    let energy = null;
    try {
      energy = await hass.callWS({ type: "energy/get_prefs" });
    } catch (err) {
      energy = null; // The Energy dashboard is not set up.
    }
    const entries = site.entries ?? [];
    const sections = [];
    for (const entry of entries.filter((e) => e.kind === "peak_shaving")) {
      sections.push({
        type: "grid",
        column_span: 2,
        cards: [
          { type: `custom:${CARD}`, config_entry_id: entry.entry_id, grid_options: { columns: "full" } },
        ],
      });
    }
    const controllers = entries.filter((e) => e.kind !== "device");
    if (controllers.length) {
      sections.push({ type: "grid", cards: controllers.flatMap((entry) => controllerCards(hass, entry)) });
    }
    const devices = deviceCards(hass, entries.filter((e) => e.kind === "device"));
    if (devices.length) {
      sections.push({ type: "grid", cards: [{ type: "heading", heading: "Devices" }, ...devices] });
    }
    sections.push({ type: "grid", column_span: 2, cards: energyCards(energy) });
    return {
      title: config.title ?? "Site",
      views: [
        { title: "Site", path: "site", icon: "mdi:home-lightning-bolt", type: "sections", max_columns: 4, sections },
      ],
    };
  }
}

/** Return a controller's heading and tiles: its state with the reason first. */
function controllerCards(hass, entry) {
  const entities = entry.entities ?? {};
  const order = (key) => (key === "state" ? 0 : key.includes("reason") ? 1 : 2);
  const tiles = Object.entries(entities)
    .filter(([, id]) => hass.states[id] && !hass.entities?.[id]?.entity_category && !hass.entities?.[id]?.hidden)
    .sort(([a], [b]) => order(a) - order(b))
    .map(([, id]) => tile(hass, id));
  const device = entry.device_ids?.[0];
  return [
    {
      type: "heading",
      heading: entry.title,
      ...(device ? { tap_action: { action: "navigate", navigation_path: `/config/devices/device/${device}` } } : {}),
    },
    ...tiles,
  ];
}

/** Return the tile of an entity: a state with a reason shows both. */
function tile(hass, id) {
  const card = { type: "tile", entity: id };
  const stateObj = hass.states[id];
  if (stateObj?.attributes?.reason !== undefined) {
    card.state_content = ["state", "reason"];
    card.grid_options = { columns: 12 };
  }
  if (id.startsWith("select.")) card.features = [{ type: "select-options" }];
  return card;
}

/** Return each device's heading and its power and charge tiles. */
function deviceCards(hass, entries) {
  const deviceIds = new Set(entries.flatMap((entry) => entry.device_ids ?? []));
  const devices = hass.devices ?? {};
  const cards = [];
  for (const id of deviceIds) {
    const device = devices[id];
    if (!device || (device.via_device_id && deviceIds.has(device.via_device_id))) continue;
    const family = new Set([id, ...[...deviceIds].filter((d) => devices[d]?.via_device_id === id)]);
    const shown = Object.values(hass.entities ?? {})
      .filter((e) => family.has(e.device_id) && !e.entity_category && !e.hidden && hass.states[e.entity_id])
      .filter((e) => ["power", "battery"].includes(hass.states[e.entity_id].attributes.device_class))
      .slice(0, 4);
    cards.push({
      type: "heading",
      heading: device.name_by_user || device.name || "Device",
      heading_style: "subtitle",
      tap_action: { action: "navigate", navigation_path: `/config/devices/device/${id}` },
    });
    cards.push(...shown.map((e) => ({ type: "tile", entity: e.entity_id })));
  }
  return cards;
}

/** Return the Energy dashboard's cards, or how to set it up. */
function energyCards(energy) {
  const heading = { type: "heading", heading: "Energy" };
  if (!energy || !Array.isArray(energy.energy_sources) || !energy.energy_sources.length) {
    return [
      heading,
      {
        type: "markdown",
        content:
          "The Energy dashboard is not set up yet: *Settings → Dashboards → Energy*. Its cards show here once it is.",
      },
    ];
  }
  const cards = [heading, { type: "energy-date-selection" }, { type: "energy-distribution", link_dashboard: true }, { type: "energy-usage-graph" }];
  if (energy.energy_sources.some((source) => source.type === "solar")) cards.push({ type: "energy-solar-graph" });
  return cards;
}

if (!customElements.get(CARD)) {
  customElements.define(CARD, EnergyOrchestratorPlanCard);
  customElements.define("ll-strategy-dashboard-energy-orchestrator", EnergyOrchestratorStrategy);
  window.customCards = window.customCards || [];
  window.customCards.push({
    type: CARD,
    name: "Energy Orchestrator plan",
    description: "Peak shaving's plan against time, with the measured past beside it.",
    preview: true,
    documentationURL: "https://github.com/energy-orchestrator/energy-orchestrator/blob/main/docs/peak-shaving.md#the-plan-card",
  });
}
