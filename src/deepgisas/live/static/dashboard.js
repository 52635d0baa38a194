// deepgisas live dashboard: draws a stream's results as they arrive (server-sent events).
// The server sends the run so far ("history", decimated), then one "update" per batch of
// frames. Points are kept here until MAX_LOCAL, then the page asks for a fresh decimated
// history, so it stays responsive however long the run. window.deepgisas records, for
// tests and the benchmark, when each update was drawn: [last frame index, the server's time
// of the result, the time it was drawn] (unix seconds).
"use strict";

const MAX_LOCAL = 4000;        // points kept before asking for a decimated history
const MAX_WATERFALL = 800;     // waterfall rows kept before the same
const DRAW_EVERY_MS = 200;     // redraws at most this often
const MAX_WAIT_MS = 600;       // and at least this often while points arrive
const token = new URLSearchParams(location.search).get("token");
const api = (path) => token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
const $ = (id) => document.getElementById(id);
const config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

const state = { info: null, points: {}, lastIndex: -1, waterfall: { index: [], z: [] },
                distribution: null, imageShown: -1, imageWanted: -1, imageLoading: false,
                pendingTimes: [], drawTimer: null, revision: 0, errors: [], status: null, resyncing: false };
window.deepgisas = { drawn: [], updates: 0, histories: 0, lastDrawnIndex: -1, drawMs: [] };

function setStatus(s, connection) {
  if (s) state.status = s;
  const st = state.status || {};
  const running = st.running === undefined ? true : st.running;
  const el = $("status");
  const conn = connection || (running ? "live" : "stopped");
  el.textContent = `${st.frames ?? 0} frames · ${(st.rate ?? 0).toFixed(1)} frames/s · ` +
    `behind ${st.pending ?? 0} · corrupt ${st.errors ?? 0} · ${(st.elapsed ?? 0).toFixed(0)} s · ${conn}`;
  el.className = "status" + (conn === "stopped" ? " stopped" : conn === "connection lost" ? " lost" : "");
}

function xValues() {
  const p = state.points;
  if (state.info.x === "time" && p.mtime && p.mtime.length) {
    const t0 = Math.min(...p.mtime.filter((v) => v !== null).slice(0, 1000));
    return { x: p.mtime.map((v) => v === null ? null : v - t0), label: "time since the first frame (s)" };
  }
  return { x: p.index, label: "frame" };
}

function panelDivs() {
  const box = $("panels");
  box.innerHTML = "";
  state.info.panels.forEach((_, i) => {
    const d = document.createElement("div");
    d.className = "plot";
    d.id = `panel-${i}`;
    box.appendChild(d);
  });
}

function add(a, b, sign) { return a.map((v, i) => (v === null || b[i] === null) ? null : v + sign * b[i]); }

function drawPanels() {
  const { x, label } = xValues();
  const p = state.points;
  state.info.panels.forEach(([col, std], i) => {
    const y = p[col] || [];
    const traces = [];
    if (std && p[std]) {
      traces.push({ x, y: add(y, p[std], 1), mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false });
      traces.push({ x, y: add(y, p[std], -1), mode: "lines", line: { width: 0 }, fill: "tonexty",
                    fillcolor: "rgba(31,119,180,0.25)", name: "±1 std", hoverinfo: "skip" });
    }
    traces.push({ x, y, mode: "lines", line: { width: 1.2, color: "#1f77b4" }, name: "network" });
    const fit = p[`fit:${col}`];
    if (fit && fit.some((v) => v !== null)) {
      const fx = [], fy = [], fe = [];
      fit.forEach((v, k) => { if (v !== null) { fx.push(x[k]); fy.push(v); fe.push((p[`fit:std:${col}`] || [])[k] ?? 0); } });
      traces.push({ x: fx, y: fy, mode: "markers", marker: { size: 6, color: "#d62728" }, name: "fit",
                    error_y: { type: "data", array: fe, visible: true, thickness: 1 } });
    }
    const bounds = state.info.bounds[col];
    const shapes = bounds ? bounds.map((b) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: b, y1: b,
                                                 line: { dash: "dash", width: 1, color: "#777" } })) : [];
    const layout = { margin: { l: 60, r: 10, t: 8, b: 30 }, uirevision: col, shapes, datarevision: state.revision,
                     yaxis: { title: { text: col, font: { size: 11 } } },
                     xaxis: { zeroline: false, title: { text: i === state.info.panels.length - 1 ? label : "", font: { size: 11 } } },
                     legend: { orientation: "h", x: 1, xanchor: "right", y: 1, font: { size: 10 } },
                     showlegend: i === 0 };
    Plotly.react(`panel-${i}`, traces, layout, config);
  });
  const misfit = p["fit:misfit"];
  if (misfit && misfit.some((v) => v !== null)) {
    $("misfit").classList.remove("hidden");
    const mx = [], my = [];
    misfit.forEach((v, k) => { if (v !== null) { mx.push(x[k]); my.push(v); } });
    Plotly.react("misfit", [{ x: mx, y: my, mode: "markers+lines", marker: { size: 5, color: "#d62728" }, name: "misfit" }],
      { margin: { l: 60, r: 10, t: 24, b: 30 }, title: { text: "goodness of fit (fit:misfit)", font: { size: 12 } },
        uirevision: "misfit", datarevision: state.revision, xaxis: { zeroline: false, title: { text: label, font: { size: 11 } } } }, config);
  }
}

function drawOrientation() {
  if (!state.info.xi_deg.length) return;
  if (state.distribution) {
    $("distribution").classList.remove("hidden");
    Plotly.react("distribution", [{ x: state.info.xi_deg, y: state.distribution, type: "bar", marker: { color: "#1f77b4" } }],
      { margin: { l: 50, r: 10, t: 24, b: 36 }, bargap: 0, uirevision: "dist", datarevision: state.revision,
        title: { text: `p(xi), frame ${state.imageWanted}`, font: { size: 12 } },
        xaxis: { title: { text: "xi (deg)", font: { size: 11 } } } }, config);
  }
  if (state.waterfall.z.length) {
    $("waterfall").classList.remove("hidden");
    const z = state.waterfall.z.map((row) => { const m = Math.max(...row.map((v) => v ?? 0)); return m > 0 ? row.map((v) => (v ?? 0) / m) : row; });
    Plotly.react("waterfall", [{ x: state.info.xi_deg, y: state.waterfall.index, z, type: "heatmap",
                                 colorscale: "Viridis", showscale: false }],
      { margin: { l: 50, r: 10, t: 24, b: 36 }, uirevision: "wf", datarevision: state.revision, title: { text: "p(xi) over the run (each frame scaled to its peak)", font: { size: 12 } },
        xaxis: { title: { text: "xi (deg)", font: { size: 11 } } }, yaxis: { title: { text: "frame", font: { size: 11 } } } }, config);
  }
}

function drawErrors() {
  if (!state.errors.length) return;
  $("errors-box").classList.remove("hidden");
  $("n-errors").textContent = String(state.status ? state.status.errors : state.errors.length);
  const body = $("errors").querySelector("tbody");
  body.innerHTML = "";
  state.errors.slice(-20).reverse().forEach(([name, , error]) => {
    const tr = document.createElement("tr");
    for (const text of [name, error]) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
    body.appendChild(tr);
  });
}

function loadImage() {
  if (state.imageLoading || state.imageWanted < 0 || state.imageWanted === state.imageShown) return;
  state.imageLoading = true;
  const want = state.imageWanted;
  const img = $("frame");
  img.onload = img.onerror = () => {
    state.imageLoading = false;
    state.imageShown = want;
    $("frame-caption").textContent = `latest frame: #${want}, on the model's grid`;
    loadImage();
  };
  img.src = api(`api/frame.png?i=${want}`);
}

function draw() {
  state.drawTimer = null;
  state.lastDraw = Date.now();
  if (!state.info) return;
  state.revision += 1;  // the arrays grow in place: tell Plotly they changed
  const t0 = performance.now();
  drawPanels();
  drawOrientation();
  drawErrors();
  loadImage();
  const ms = performance.now() - t0;
  window.deepgisas.drawMs.push(ms);
  // redraw at most every DRAW_EVERY_MS ms, leaving the browser idle 2/3 of the time, but
  // at least every MAX_WAIT_MS ms, so that a point is drawn within a second of its result
  state.drawInterval = Math.min(MAX_WAIT_MS, Math.max(DRAW_EVERY_MS, 3 * ms));
  const now = Date.now() / 1000;
  for (const t of state.pendingTimes) window.deepgisas.drawn.push([t[0], t[1], now]);
  state.pendingTimes = [];
  window.deepgisas.lastDrawnIndex = state.lastIndex;
}

function scheduleDraw() {
  if (state.drawTimer !== null) return;
  const wait = Math.max(0, (state.drawInterval || DRAW_EVERY_MS) - (Date.now() - (state.lastDraw || 0)));
  state.drawTimer = setTimeout(draw, wait);
}

function onHistory(h) {
  window.deepgisas.histories += 1;
  if (!h.started) { setStatus(h.status); return; }
  const fresh = !state.info;
  state.info = h;
  state.points = h.points;
  const idx = h.points.index || [];
  state.lastIndex = idx.length ? idx[idx.length - 1] : -1;
  state.waterfall = { index: h.waterfall.index.slice(), z: h.waterfall.z.slice() };
  state.distribution = h.distribution;
  state.imageWanted = h.image_index;
  state.errors = h.errors;
  $("what").textContent = `${h.model} · ${h.source}` + (h.fit ? ` · fit: ${h.fit}` : "");
  if (fresh || $("panels").children.length !== h.panels.length) panelDivs();
  setStatus(h.status);
  state.pendingTimes.push([state.lastIndex, h.time]);
  state.resyncing = false;
  scheduleDraw();
}

async function resync() {
  if (state.resyncing) return;
  state.resyncing = true;
  try {
    const r = await fetch(api("api/history"));
    onHistory(await r.json());
  } catch (e) { state.resyncing = false; }
}

function onUpdate(u) {
  window.deepgisas.updates += 1;
  if (!state.info) return;
  const idx = u.points.index || [];
  const keep = idx.map((v, k) => v > state.lastIndex ? k : -1).filter((k) => k >= 0);
  for (const col of Object.keys(u.points)) {
    if (!state.points[col]) state.points[col] = new Array((state.points.index || []).length).fill(null);
    for (const k of keep) state.points[col].push(u.points[col][k]);
  }
  if (keep.length) state.lastIndex = idx[keep[keep.length - 1]];
  if (u.distribution && u.image_index > (state.waterfall.index.at(-1) ?? -1)) {
    state.distribution = u.distribution;
    state.waterfall.index.push(u.image_index);
    state.waterfall.z.push(u.distribution);
  }
  if (u.image_index !== undefined) state.imageWanted = u.image_index;
  state.errors = state.errors.concat(u.errors).slice(-20);
  setStatus(u.status);
  state.pendingTimes.push([state.lastIndex, u.time]);
  if ((state.points.index || []).length > MAX_LOCAL || state.waterfall.z.length > MAX_WATERFALL) resync();
  else scheduleDraw();
}

function connect() {
  const source = new EventSource(api("api/events"));
  source.addEventListener("history", (e) => onHistory(JSON.parse(e.data)));
  source.addEventListener("update", (e) => onUpdate(JSON.parse(e.data)));
  source.addEventListener("resync", () => resync());
  source.addEventListener("stopped", (e) => { setStatus(JSON.parse(e.data).status, "stopped"); });
  source.onerror = () => { if (state.status && state.status.running === false) { setStatus(null, "stopped"); source.close(); } else setStatus(null, "connection lost"); };
}

connect();
