// ketasim explorer: builds a request from the form, asks /api/simulate, draws every layer on one time
// axis. No framework and no CDN: Plotly.js is served by the package from the installed plotly.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const state = { options: null, last: null, lastRequest: null, pinned: null, pinnedLabel: "", timer: null,
                controller: null, job: null, polling: null };

function numbers(text) {
  // "1, 8, 15" -> [1, 8, 15]; blank -> []; anything else is left for the server to refuse by name
  const parts = text.split(/[,;\s]+/).filter((s) => s.length);
  return parts.map((s) => Number(s));
}

function regimenSpec() {
  const mode = document.querySelector("input[name=mode]:checked").value;
  if (mode === "protocol") return { protocol: $("protocol").value };
  if (mode === "control") return { control: $("control").value, schedule: $("schedule").value };
  const route = $("route").value;
  const minutes = Number($("infusion").value);
  return {
    doses: [{
      drug: $("drug").value, route: route, amount: Number($("amount").value), unit: $("amount-unit").value,
      duration_min: route === "iv" && minutes > 0 ? minutes : null,
      repeat_count: Math.max(1, Math.round(Number($("repeats").value))),
      repeat_every_h: Number($("every").value) * 24,
    }],
  };
}

function hypothesesSpec() {
  const out = {};
  for (const box of document.querySelectorAll("#hypotheses input")) out[box.name] = box.checked;
  return out;
}

function simulateRequest() {
  const noise = $("noise").value.trim();
  return {
    regimen: regimenSpec(),
    patient: {
      weight_kg: Number($("weight").value), sex: $("sex").value, age_y: Number($("age").value),
      madrs_baseline: Number($("madrs").value), biotype: $("biotype").value,
      symptom_profile: Number($("profile").value), stress_load: Number($("stress").value),
      supportive_environment: Number($("support").value), psychotherapy_days: numbers($("therapy").value),
      alcohol_use_disorder: $("aud").checked, drinks_per_day: Number($("drinks").value),
      noise_seed: noise === "" ? null : Number(noise),
    },
    hypotheses: hypothesesSpec(),
    duration_days: Number($("days").value),
    output_step_min: Number($("step").value),
    time_grid: $("xscale").value === "log" ? "log" : "uniform",
  };
}

function describe(req) {
  const r = req.regimen;
  const what = r.protocol || (r.control ? `${r.control} (${r.schedule})` :
    `${r.doses[0].drug} ${r.doses[0].amount} ${r.doses[0].unit} ${r.doses[0].route}` +
    (r.doses[0].repeat_count > 1 ? ` x${r.doses[0].repeat_count}` : ""));
  const off = Object.entries(req.hypotheses).filter(([k, v]) => v !== state.options.hypothesis_defaults[k]);
  return what + (off.length ? " [" + off.map(([k, v]) => `${k} ${v ? "on" : "off"}`).join(", ") + "]" : "");
}

function showError(message) {
  const el = $("error");
  el.textContent = message || "";
  el.hidden = !message;
}

async function readError(resp) {
  try { const body = await resp.json(); return body.message || `HTTP ${resp.status}`; }
  catch (e) { return `HTTP ${resp.status}`; }
}

async function update() {
  const req = simulateRequest();
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const started = performance.now();
  $("status").textContent = "simulating...";
  try {
    const resp = await fetch("/api/simulate", { method: "POST", headers: { "Content-Type": "application/json" },
                                                body: JSON.stringify(req), signal: controller.signal });
    const message = resp.ok ? "" : await readError(resp);
    const data = resp.ok ? await resp.json() : null;
    if (controller !== state.controller) return;  // a newer request is on its way: its answer counts
    if (!resp.ok) { showError(message); $("status").textContent = ""; return; }
    state.last = data; state.lastRequest = req;
    showError("");
    draw();
    $("status").textContent = `updated in ${Math.round(performance.now() - started)} ms`;
  } catch (e) {
    if (e.name !== "AbortError" && controller === state.controller) {
      showError(`the server did not answer (${e.message})`);
      $("status").textContent = "";
    }
  }
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(update, 150);
}

function shown(data, panelIndex) {
  // the panel's outputs this run touches (the first always shows): an untouched drug or layer is left out
  return data.panels[panelIndex].outputs.filter((name, k) => k === 0 || Math.max(...data.series[name].map(Math.abs)) > 0);
}

function traces(data, panelIndex, pinned) {
  const out = [];
  const log = $("xscale").value === "log";
  const days = data.time_h.map((h) => (log && h === 0 ? null : h / 24));  // time 0 has no place on a log axis
  const drawn = shown(data, panelIndex);
  data.panels[panelIndex].outputs.forEach((name, k) => {
    if (!drawn.includes(name)) return;
    const y = data.series[name];
    const unit = data.units[name] || "";
    out.push({
      x: days, y: y, type: "scatter", mode: "lines", name: (pinned ? "pinned: " : "") + name,
      legendgroup: name, showlegend: true, xaxis: "x", yaxis: panelIndex ? `y${panelIndex + 1}` : "y",
      line: { color: COLORS[k % COLORS.length], width: pinned ? 1.5 : 2, dash: pinned ? "dot" : "solid" },
      opacity: pinned ? 0.75 : 1,
      hovertemplate: `%{y:.4g} ${unit}<br>day %{x:.3f}<extra>${pinned ? "pinned " : ""}${name}</extra>`,
    });
  });
  return out;
}

function published(data, panelIndex) {
  // the protocol's published values on their panel, with their bars (95% CI or the validation tolerance)
  const names = data.panels[panelIndex].outputs;
  return (data.reference || []).filter((p) => names.includes(p.variable)).map((p) => ({
    x: [p.time_h / 24], y: [p.value], type: "scatter", mode: "markers", name: `published: ${p.variable}`,
    xaxis: "x", yaxis: panelIndex ? `y${panelIndex + 1}` : "y",
    marker: { symbol: "diamond", size: 10, color: "#000" },
    error_y: Number.isFinite(p.lower) && p.lower !== null ? { type: "data", symmetric: false, array: [p.upper - p.value],
                                                              arrayminus: [p.value - p.lower], color: "#000" } : undefined,
    hovertemplate: `${p.label}<extra></extra>`,
  }));
}

function draw() {
  const data = state.last;
  const n = data.panels.length;
  const gap = 0.025;
  const h = (1 - gap * (n - 1)) / n;
  const layout = {
    margin: { l: 70, r: 10, t: 10, b: 110 }, hovermode: "closest", showlegend: true,
    legend: { orientation: "h", y: -0.05, yanchor: "top", font: { size: 10 } },
    xaxis: { title: { text: "time (days after the first dose)" }, anchor: `y${n}`, domain: [0, 1],
             type: $("xscale").value },
  };
  if ($("xscale").value === "log") {  // from 1 min: the infusion and the glutamate pulse are visible
    layout.xaxis.range = [Math.log10(1 / 1440), Math.log10(data.time_h[data.time_h.length - 1] / 24)];
  }
  const all = [];
  for (let i = 0; i < n; i++) {
    const key = i ? `yaxis${i + 1}` : "yaxis";
    const top = 1 - i * (h + gap);
    const units = [...new Set(shown(data, i).map((o) => data.units[o]).filter((u) => u))].join(" · ");
    layout[key] = { domain: [top - h, top], title: { text: `${data.panels[i].title}<br><sub>${units}</sub>`, font: { size: 11 } },
                    anchor: "x", automargin: true, rangemode: "tozero" };
    if (i < n - 1) layout[key].showticklabels = true;
    if (state.pinned) all.push(...traces(state.pinned, i, true));
    all.push(...traces(data, i, false));
    all.push(...published(data, i));
  }
  Plotly.react("chain", all, layout, { responsive: true, displaylogo: false });
  if (state.pinned) {
    $("pinned-label").textContent = `solid: ${describe(state.lastRequest)}; dotted (pinned): ${state.pinnedLabel}`;
  }
  summaryTable();
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  return Math.abs(v) >= 100 ? v.toFixed(1) : Number(v.toPrecision(3)).toString();
}

function summaryTable() {
  const body = document.querySelector("#summary tbody");
  body.replaceChildren();
  for (const [key, value] of Object.entries(state.last.summary)) {
    const tr = document.createElement("tr");
    const pinned = state.pinned ? state.pinned.summary[key] : null;
    tr.innerHTML = `<th scope="row">${key}</th><td class="num" id="m-${key}">${fmt(value)}</td>` +
      `<td class="num" id="p-${key}">${state.pinned ? fmt(pinned) : ""}</td><td>${state.last.summary_units[key] || ""}</td>`;
    body.append(tr);
  }
}

function pin() {
  if (!state.last) return;
  state.pinned = state.last;
  state.pinnedLabel = describe(state.lastRequest);
  $("pinned-label").hidden = false;
  $("unpin").disabled = false;
  draw();
}

function unpin() {
  state.pinned = null;
  $("pinned-label").hidden = true;
  $("unpin").disabled = true;
  if (state.last) draw();
}

function save(blob, filename) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

function csv() {
  if (!state.last) return;
  const d = state.last;
  const names = Object.keys(d.series);
  const lines = ["time_h," + names.map((n) => `${n} (${d.units[n]})`).join(",")];
  // String(x) is the shortest text that reads back as the same double: the file holds the exact numbers
  d.time_h.forEach((t, i) => lines.push([t, ...names.map((n) => d.series[n][i])].map((x) => x === null ? "" : String(x)).join(",")));
  save(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }), "ketasim-series.csv");
}

// ---- small trial ---------------------------------------------------------------------------------

function trialRequest() {
  const b = $("t-comparator").value;
  const armB = b.startsWith("control:") ? { control: b.slice(8), schedule: schedulePartner() } : { protocol: b.slice(9) };
  return {
    arms: [{ name: "A", regimen: regimenSpec() }, { name: "B", regimen: armB }],
    control: "B",
    patients: Math.round(Number($("t-patients").value)),
    duration_days: Number($("t-days").value),
    visits_days: numbers($("t-visits").value),
    seed: Math.round(Number($("t-seed").value)),
    hypotheses: hypothesesSpec(),
  };
}

function schedulePartner() {
  // a placebo arm mimics arm A's schedule when A is a protocol, else the reference infusion
  const a = regimenSpec();
  return a.protocol || a.schedule || "zarate-2006-iv";
}

async function runTrial() {
  $("t-run").disabled = true;  // before the request: a second click must not start a second trial
  $("t-status").textContent = "starting...";
  $("t-progress").value = 0;
  try {
    const resp = await fetch("/api/trials", { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify(trialRequest()) });
    if (!resp.ok) { finishTrial(await readError(resp)); return; }
    state.job = (await resp.json()).id;
  } catch (e) {
    finishTrial(`the server did not answer (${e.message})`);
    return;
  }
  $("t-cancel").disabled = false;
  poll();
}

async function poll() {
  if (!state.job) return;
  let job;
  try {
    const resp = await fetch(`/api/trials/${state.job}`);
    if (!resp.ok) { finishTrial(await readError(resp)); return; }
    job = await resp.json();
  } catch (e) {
    finishTrial(`the server did not answer (${e.message})`);
    return;
  }
  $("t-progress").value = job.progress;
  if (job.state === "running" || job.state === "queued") {
    $("t-status").textContent = `running: ${job.done} of ${job.total || "?"} chunks`;
    state.polling = setTimeout(poll, 250);
    return;
  }
  if (job.state === "done") { finishTrial(""); trialResult(job.result); }
  else finishTrial(job.state === "cancelled" ? "cancelled" : `failed: ${job.error}`);
}

function finishTrial(message) {
  state.job = null;
  clearTimeout(state.polling);
  $("t-run").disabled = false; $("t-cancel").disabled = true;
  $("t-status").textContent = message || "done";
  if (!message) $("t-progress").value = 1;
}

async function cancelTrial() {
  if (!state.job) return;
  $("t-cancel").disabled = true;
  try { await fetch(`/api/trials/${state.job}`, { method: "DELETE" }); }  // the poll reports "cancelled"
  catch (e) { finishTrial(`the server did not answer (${e.message})`); }
}

function ci(v) {
  if (!v || v.estimate === null || v.estimate === undefined) return "n/a";
  const pct = (x) => (100 * x).toFixed(0) + "%";
  return `${pct(v.estimate)} (${pct(v.lower)} to ${pct(v.upper)})`;
}

function trialResult(res) {
  const table = $("t-table");
  const arms = Object.keys(res.arms_ci);
  const rows = [];
  rows.push(`<caption>Trial result (95% CIs; n analysed: ${arms.map((a) => `${a} ${res.arms[a].n}`).join(", ")})</caption>`);
  rows.push(`<thead><tr><th scope="col">endpoint</th>${arms.map((a) => `<th scope="col">${a}</th>`).join("")}</tr></thead><tbody>`);
  const keys = Object.keys(res.arms_ci[arms[0]]).filter((k) => k.startsWith("response_") || k.startsWith("remission_") || k.startsWith("madrs_change_"));
  for (const k of keys) {
    const cells = arms.map((a) => {
      const v = res.arms_ci[a][k];
      return k.startsWith("madrs_change_") ? `${fmt(v.estimate)} (${fmt(v.lower)} to ${fmt(v.upper)})` : ci(v);
    });
    rows.push(`<tr><th scope="row">${k}</th>${cells.map((c) => `<td class="num" data-endpoint="${k}">${c}</td>`).join("")}</tr>`);
  }
  for (const c of res.comparisons) {
    for (const [k, v] of Object.entries(c.endpoints)) {
      if (v.hedges_g) rows.push(`<tr><th scope="row">${k}: Hedges g, ${c.arm} vs ${c.versus}</th><td class="num" colspan="${arms.length}">${fmt(v.hedges_g.estimate)} (${fmt(v.hedges_g.lower)} to ${fmt(v.hedges_g.upper)})</td></tr>`);
    }
  }
  table.innerHTML = rows.join("") + "</tbody>";
  const traces = [];
  arms.forEach((a, i) => {
    const s = res.series[a];
    const days = s.time_h.map((h) => h / 24);
    const color = COLORS[i % COLORS.length];
    for (const p of (res.examples[a] || [])) {
      traces.push({ x: p.time_h.map((h) => h / 24), y: p.madrs, mode: "lines", line: { color: color, width: 0.6 },
                    opacity: 0.35, showlegend: false, hoverinfo: "skip" });
    }
    traces.push({ x: days.concat([...days].reverse()), y: s.p95.concat([...s.p05].reverse()), fill: "toself",
                  fillcolor: color, opacity: 0.12, line: { width: 0 }, name: `${a}: 5-95% of patients`, hoverinfo: "skip" });
    traces.push({ x: days, y: s.mean, mode: "lines", line: { color: color, width: 2.5 }, name: `${a}: mean`,
                  error_y: { type: "data", symmetric: false, array: s.upper.map((u, j) => u - s.mean[j]),
                             arrayminus: s.mean.map((m, j) => m - s.lower[j]), visible: true, thickness: 0.8, width: 0 },
                  hovertemplate: "MADRS %{y:.1f} points<br>day %{x:.2f}<extra>" + a + "</extra>" });
  });
  Plotly.react("t-chart", traces, {
    margin: { l: 60, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "days after the first dose" } },
    yaxis: { title: { text: "MADRS (points)" }, rangemode: "tozero" }, legend: { orientation: "h" },
  }, { responsive: true, displaylogo: false });
}

async function downloadToml() {
  const resp = await fetch("/api/scenario", { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify(trialRequest()) });
  if (!resp.ok) { $("t-status").textContent = await readError(resp); return; }
  save(new Blob([await resp.text()], { type: "application/toml" }), "ketasim-trial.toml");
}

// ---- parameters ----------------------------------------------------------------------------------

async function loadParameters() {
  const rows = await (await fetch("/api/parameters")).json();
  const body = document.querySelector("#p-table tbody");
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.search = `${r.name} ${r.layer} ${r.source || ""} ${r.assumption || ""}`.toLowerCase();
    const cells = [r.name, fmt(r.value), r.unit, r.layer].map((t) => {
      const td = document.createElement("td"); td.textContent = t; return td;
    });
    const src = document.createElement("td");
    if (r.source) {
      const a = document.createElement(r.doi_url ? "a" : "span");
      a.textContent = r.source;
      if (r.doi_url) { a.href = r.doi_url; a.rel = "noopener"; a.target = "_blank"; }
      src.append(a);
    } else {
      src.textContent = `assumption: ${r.assumption || ""}`;
    }
    if (r.calibration) src.append(` (calibrated: ${r.calibration})`);
    tr.append(...cells, src);
    body.append(tr);
  }
  $("p-filter").addEventListener("input", () => {
    const q = $("p-filter").value.toLowerCase();
    for (const tr of body.children) tr.hidden = q && !tr.dataset.search.includes(q);
  });
}

// ---- start ---------------------------------------------------------------------------------------

function fill(select, items) {
  for (const [value, label] of items) {
    const o = document.createElement("option"); o.value = value; o.textContent = label; select.append(o);
  }
}

async function start() {
  const options = await (await fetch("/api/options")).json();
  options.hypothesis_defaults = Object.fromEntries(Object.entries(options.hypotheses).map(([k, v]) => [k, v.default]));
  state.options = options;
  const protos = options.protocols.map((p) => [p.name, p.name]);
  fill($("protocol"), protos);
  fill($("schedule"), protos);
  fill($("drug"), options.drugs.map((d) => [d, d]));
  fill($("route"), options.routes.map((r) => [r, r]));
  fill($("control"), options.controls.map((c) => [c, c]));
  fill($("biotype"), options.biotypes.map((b) => [b, b]));
  fill($("t-comparator"), [...options.controls.map((c) => [`control:${c}`, `placebo: ${c}`]),
                           ...options.protocols.map((p) => [`protocol:${p.name}`, p.name])]);
  $("t-comparator").value = "control:midazolam";
  $("t-patients").max = options.limits.trial_patients;
  $("t-days").max = options.limits.trial_days;
  for (const [name, { description: text }] of Object.entries(options.hypotheses)) {
    const label = document.createElement("label"); label.className = "check";
    const box = document.createElement("input"); box.type = "checkbox"; box.name = name; box.id = `h-${name}`;
    box.checked = options.hypothesis_defaults[name];
    label.append(box, ` ${text}`);
    $("hypotheses").append(label);
  }
  const source = () => {
    const p = options.protocols.find((x) => x.name === $("protocol").value);
    $("protocol-source").textContent = p ? `${p.title}. ${p.source}` : "";
  };
  source();
  $("protocol").addEventListener("change", source);
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", () => {
      for (const div of document.querySelectorAll("[data-mode]")) div.hidden = div.dataset.mode !== radio.value;
    });
  }
  for (const [range, out] of [["profile", "profile-out"], ["stress", "stress-out"], ["support", "support-out"]]) {
    $(range).addEventListener("input", () => { $(out).textContent = $(range).value; });
  }
  $("xscale").addEventListener("change", () => { $("step").disabled = $("xscale").value === "log"; });
  $("controls").addEventListener("input", schedule);
  $("controls").addEventListener("change", schedule);
  $("pin").addEventListener("click", pin);
  $("unpin").addEventListener("click", unpin);
  $("png").addEventListener("click", () => Plotly.downloadImage("chain", { format: "png", filename: "ketasim-chain", width: 1200, height: 1400 }));
  $("svg").addEventListener("click", () => Plotly.downloadImage("chain", { format: "svg", filename: "ketasim-chain", width: 1200, height: 1400 }));
  $("csv").addEventListener("click", csv);
  $("t-run").addEventListener("click", runTrial);
  $("t-cancel").addEventListener("click", cancelTrial);
  $("t-toml").addEventListener("click", downloadToml);
  loadParameters();
  await update();
}

start();
