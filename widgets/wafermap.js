// fabnb WaferMap front end (anywidget ES module; no build step, no CDN).
//
// The kernel sends die geometry once (x, y, col, row as float32/int32 buffers) and the
// current wafer on every switch (values float32, bins int32).  This module draws the
// dies on a canvas (dies grouped by colour: one fill per colour, so 5,500 dies draw in
// a few ms), the wafer outline and notch, a legend, a hover tooltip, click, box and
// lasso selection synced to the `selected` trait, and the wafer/test/variable pickers.
// Dragging draws a box, or a free-hand lasso when the mode button (`select_mode`
// trait) says "lasso"; dies whose centres fall inside are selected (shift adds).
//
// For tests and tooling the root element exposes:
//   root.fabnbDieClientXY(i) -> {x, y} viewport position of die i's centre
//   root.fabnbClientXY(x, y) -> {x, y} viewport position of wafer point (x, y) (in the
//                             units of the die coordinates: mm or die pitch)
//   root.fabnbSelection()     -> the selected die indices
//   root.dataset.renderMs     last re-render time (data received -> drawn), ms
//   root.dataset.switchMs     last picker change -> new wafer drawn (kernel round trip), ms
//   root.dataset.renders      number of renders so far
//   root.dataset.measureRaster  set it (any value) to make renderMs include rasterizing
//                             the canvas (a 1-pixel read-back forces it; benchmarks only)

const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e",
  "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
// bin colours come from Python (fabnb.plot.bin_palette via the `bin_colors` trait, keyed
// on the code), so maps, reports and this widget agree; a code the trait lacks (none,
// unless the trait is stale) is drawn in a neutral dark grey rather than a guessed colour
const UNKNOWN_BIN_COLOR = "#404040";
const NAN_COLOR = "#d0d0d0";
const N_COLORS = 256;
const DRAG_PX = 4;

function hexToRgb(h) {
  const n = parseInt(h.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

// 256 colour strings interpolated linearly between the viridis stops.
const LUT = (() => {
  const stops = VIRIDIS.map(hexToRgb);
  const out = [];
  for (let k = 0; k < N_COLORS; k++) {
    const t = (k / (N_COLORS - 1)) * (stops.length - 1);
    const j = Math.min(Math.floor(t), stops.length - 2);
    const f = t - j;
    const c = stops[j].map((v, m) => Math.round(v + f * (stops[j + 1][m] - v)));
    out.push(`rgb(${c[0]},${c[1]},${c[2]})`);
  }
  return out;
})();

function binColor(b, colors) {
  return (colors && colors[String(b)]) || UNKNOWN_BIN_COLOR;
}

// Legend text of a bin: code, name, pass/fail (bin 1 passes: the dataset contract).
function binLabel(b, names, count) {
  if (b < 0) return `untested (${count})`;
  const name = names && names[String(b)] ? ` ${names[String(b)]}` : "";
  return `${b}${name} \u00B7 ${b === 1 ? "pass" : "fail"} (${count})`;
}

// Fill colour of a die from its colour key (bin code, or LUT index with N_COLORS = NaN).
function dieColor(key, isBins, colors) {
  if (isBins) return binColor(key, colors);
  return key === N_COLORS ? NAN_COLOR : LUT[key];
}

// A typed view on a buffer trait (DataView from ipywidgets, or ArrayBuffer/typed array).
function typed(buf, Type) {
  if (!buf) return new Type(0);
  let ab, off, len;
  if (buf instanceof ArrayBuffer) {
    ab = buf; off = 0; len = buf.byteLength;
  } else if (ArrayBuffer.isView(buf)) {
    ab = buf.buffer; off = buf.byteOffset; len = buf.byteLength;
  } else {
    return new Type(0);
  }
  if (off % Type.BYTES_PER_ELEMENT) {  // unaligned: copy once
    const copy = new Uint8Array(len);
    copy.set(new Uint8Array(ab, off, len));
    ab = copy.buffer; off = 0;
  }
  return new Type(ab, off, Math.floor(len / Type.BYTES_PER_ELEMENT));
}

function fmt(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return "not measured";
  const a = Math.abs(v);
  const s = a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(4);
  return unit ? `${s} ${unit}` : s;
}

// Even-odd ray casting: is (px, py) inside the polygon [[x, y], ...]?
function insidePolygon(px, py, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > py) !== (yj > py) && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function picker(label, cls) {
  const wrap = h("label", "fabnb-wm-picker");
  wrap.append(h("span", "", label));
  const sel = h("select", cls);
  wrap.append(sel);
  return [wrap, sel];
}

// Options of a <select>: values `options`, shown as `labels` (same order) when given.
function setOptions(sel, options, value, labels) {
  const text = (i) => (labels && labels.length === options.length ? labels[i] : options[i]);
  const same = sel.options.length === options.length &&
    options.every((o, i) => sel.options[i].value === o && sel.options[i].textContent === text(i));
  if (!same) {
    sel.replaceChildren(...options.map((o, i) => {
      const opt = h("option", "", text(i));
      opt.value = o;
      return opt;
    }));
  }
  sel.value = options.includes(value) ? value : "";
}

function render({ model, el }) {
  const root = h("div", "fabnb-wafermap");
  const controls = h("div", "fabnb-wm-controls");
  const prev = h("button", "fabnb-wm-prev", "\u25C0");
  prev.title = "previous wafer";
  const next = h("button", "fabnb-wm-next", "\u25B6");
  next.title = "next wafer";
  const [waferWrap, waferSel] = picker("wafer", "fabnb-wm-wafer");
  const [testWrap, testSel] = picker("test", "fabnb-wm-test");
  const [varWrap, varSel] = picker("show", "fabnb-wm-var");
  const mode = h("button", "fabnb-wm-mode");
  mode.title = "drag selects dies in a box or inside a free-hand lasso (click to switch)";
  const clear = h("button", "fabnb-wm-clear", "clear selection");
  controls.append(prev, waferWrap, next, testWrap, varWrap, mode, clear);

  const body = h("div", "fabnb-wm-body");
  const stage = h("div", "fabnb-wm-stage");
  const canvas = h("canvas", "fabnb-wm-canvas");
  const overlay = h("canvas", "fabnb-wm-overlay");
  const tooltip = h("div", "fabnb-wm-tooltip");
  tooltip.hidden = true;
  const message = h("div", "fabnb-wm-message");
  message.setAttribute("role", "alert");
  message.hidden = true;
  stage.append(canvas, overlay, tooltip, message);
  const legend = h("div", "fabnb-wm-legend");
  body.append(stage, legend);
  const status = h("div", "fabnb-wm-status");
  root.append(controls, body, status);
  el.append(root);

  const octx = overlay.getContext("2d");
  const ctx = canvas.getContext("2d");
  const state = {
    geom: null, x: null, y: null, col: null, row: null, values: null, bins: null,
    buffers: {}, scale: 1, cx: 0, cy: 0, size: 0, hover: -1, drag: null,
    t0: null, pickT0: null, pickWafer: null, renders: 0, scheduled: false,
  };

  // The shown test as the picker names it ("<number> <clean name>"), else its name.
  function testLabel() {
    const k = (model.get("tests") || []).indexOf(model.get("test"));
    const labels = model.get("test_labels") || [];
    return k >= 0 && k < labels.length ? labels[k] : model.get("test");
  }

  // ------------------------------------------------------------- data decoding
  function decode() {
    const fresh = (key) => {
      const b = model.get(key);
      if (state.buffers[key] === b) return false;
      state.buffers[key] = b;
      return true;
    };
    if (fresh("x")) state.x = typed(model.get("x"), Float32Array);
    if (fresh("y")) state.y = typed(model.get("y"), Float32Array);
    if (fresh("col")) state.col = typed(model.get("col"), Int32Array);
    if (fresh("row")) state.row = typed(model.get("row"), Int32Array);
    if (fresh("values")) state.values = typed(model.get("values"), Float32Array);
    if (fresh("bins")) state.bins = typed(model.get("bins"), Int32Array);
    const g = model.get("geometry") || {};
    const n = state.x.length;
    state.geom = g.diameter > 0 && n > 0 && state.y.length === n ? g : null;
  }

  // Colour index per die: 0..255 on the scale, 256 = not measured.  Bins keep their code.
  function colorKeys() {
    const n = state.x.length;
    const keys = new Int32Array(n);
    if (model.get("var") === "hbin") {
      for (let i = 0; i < n; i++) keys[i] = i < state.bins.length ? state.bins[i] : -1;
      return keys;
    }
    const lo = model.get("vmin"), hi = model.get("vmax");
    const ok = lo !== null && hi !== null && hi > lo;
    const k = ok ? (N_COLORS - 1) / (hi - lo) : 0;
    const v = state.values;
    for (let i = 0; i < n; i++) {
      const val = i < v.length ? v[i] : NaN;
      if (!ok || Number.isNaN(val)) { keys[i] = N_COLORS; continue; }
      const c = Math.round((val - lo) * k);
      keys[i] = c < 0 ? 0 : c > N_COLORS - 1 ? N_COLORS - 1 : c;
    }
    return keys;
  }

  // ------------------------------------------------------------- drawing
  function sizeCanvas(c, size) {
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(size * dpr)) {
      c.width = Math.round(size * dpr);
      c.height = Math.round(size * dpr);
    }
    c.style.width = `${size}px`;
    c.style.height = `${size}px`;
    const cx = c.getContext("2d");
    cx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function dieRect(i) {
    const g = state.geom;
    const w = g.die_w * state.scale, hh = g.die_h * state.scale;
    return [state.cx + state.x[i] * state.scale - w / 2, state.cy - state.y[i] * state.scale - hh / 2, w, hh];
  }

  function drawWafer() {
    const g = state.geom;
    const size = state.size;
    const radius = (g.diameter / 2) * state.scale;
    ctx.clearRect(0, 0, size, size);
    // outline with the notch: a small V cut into the edge
    const notchAngle = { down: Math.PI / 2, up: -Math.PI / 2, left: Math.PI, right: 0 }[g.notch] ?? Math.PI / 2;
    const half = 0.035;  // half-width of the notch in radians
    const depth = Math.max(4, radius * 0.03);
    const outline = new Path2D();
    outline.arc(state.cx, state.cy, radius, notchAngle + half, notchAngle + 2 * Math.PI - half);
    outline.lineTo(state.cx + (radius - depth) * Math.cos(notchAngle), state.cy + (radius - depth) * Math.sin(notchAngle));
    outline.closePath();
    ctx.fillStyle = "#f8f8f6";
    ctx.fill(outline);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#555";
    ctx.stroke(outline);

    const keys = colorKeys();
    const n = keys.length;
    // group dies by colour: one path and one fill per colour
    const groups = new Map();
    for (let i = 0; i < n; i++) {
      let list = groups.get(keys[i]);
      if (!list) { list = []; groups.set(keys[i], list); }
      list.push(i);
    }
    const w = g.die_w * state.scale, hh = g.die_h * state.scale;
    const gap = Math.min(w, hh) > 5 ? 0.6 : 0;
    const isBins = model.get("var") === "hbin";
    const colors = model.get("bin_colors");
    for (const [key, list] of groups) {
      ctx.fillStyle = dieColor(key, isBins, colors);
      ctx.beginPath();
      for (const i of list) {
        ctx.rect(state.cx + state.x[i] * state.scale - w / 2 + gap / 2,
          state.cy - state.y[i] * state.scale - hh / 2 + gap / 2, w - gap, hh - gap);
      }
      ctx.fill();
    }
    // selection: fade the other dies, redraw the selected ones at full colour, outline them
    const sel = (model.get("selected") || []).filter((i) => i >= 0 && i < n);
    if (sel.length) {
      ctx.fillStyle = "rgba(255, 255, 255, 0.6)";
      ctx.fill(outline);
      for (const i of sel) {
        ctx.fillStyle = dieColor(keys[i], isBins, colors);
        ctx.fillRect(...dieRect(i));
      }
      ctx.beginPath();
      for (const i of sel) ctx.rect(...dieRect(i));
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#111";
      ctx.stroke();
    }
    return groups;
  }

  function drawLegend(groups) {
    legend.replaceChildren();
    if (!state.geom) return;
    if (model.get("var") === "hbin") {
      legend.append(h("div", "fabnb-wm-legend-title", "hard bin"));
      const codes = [...groups.keys()].sort((a, b) => a - b);
      for (const b of codes) {
        const row = h("div", "fabnb-wm-legend-row");
        const sw = h("span", "fabnb-wm-swatch");
        sw.style.background = binColor(b, model.get("bin_colors"));
        row.append(sw, h("span", "", binLabel(b, model.get("bin_names"), groups.get(b).length)));
        legend.append(row);
      }
      return;
    }
    const unit = model.get("unit");
    const known = (model.get("tests") || []).includes(model.get("test"));
    legend.append(h("div", "fabnb-wm-legend-title", known ? `${testLabel()}${unit ? ` [${unit}]` : ""}` : "value"));
    const lo = model.get("vmin"), hi = model.get("vmax");
    if (lo === null || hi === null) {
      legend.append(h("div", "fabnb-wm-legend-note", "no colour scale"));
    } else {
      const bar = h("div", "fabnb-wm-colorbar");
      bar.style.background = `linear-gradient(to bottom, ${VIRIDIS.slice().reverse().join(", ")})`;
      const labels = h("div", "fabnb-wm-colorbar-labels");
      labels.append(h("span", "", fmt(hi)), h("span", "", fmt((lo + hi) / 2)), h("span", "", fmt(lo)));
      for (const [name, lim] of [["USL", model.get("usl")], ["LSL", model.get("lsl")]]) {
        if (lim === null || lim < lo || lim > hi) continue;
        const mark = h("div", "fabnb-wm-speclimit");
        mark.append(h("span", "", name));
        mark.style.top = `${(100 * (hi - lim)) / (hi - lo)}%`;
        bar.append(mark);
      }
      const wrap = h("div", "fabnb-wm-colorbar-wrap");
      wrap.append(bar, labels);
      legend.append(wrap);
    }
    const nan = groups.get(N_COLORS);
    if (nan) {
      const row = h("div", "fabnb-wm-legend-row");
      const sw = h("span", "fabnb-wm-swatch");
      sw.style.background = NAN_COLOR;
      row.append(sw, h("span", "", `not measured (${nan.length})`));
      legend.append(row);
    }
    legend.append(h("div", "fabnb-wm-legend-note", `scale: ${model.get("scale")} P1\u2013P99`));
  }

  function drawStatus() {
    const sel = model.get("selected") || [];
    const where = `wafer ${model.get("wafer")} \u00B7 ${model.get("var") === "hbin" ? "hard bin" : testLabel()}`;
    if (!sel.length) {
      status.textContent = `${where} \u00B7 No dies selected: click a die (shift-click adds), or drag a ${model.get("select_mode") === "lasso" ? "lasso" : "box"}.`;
      status.classList.add("fabnb-wm-empty");
    } else {
      const shown = sel.slice(0, 8).join(", ") + (sel.length > 8 ? ", \u2026" : "");
      status.textContent = `${where} \u00B7 ${sel.length} ${sel.length === 1 ? "die" : "dies"} selected: ${shown}`;
      status.classList.remove("fabnb-wm-empty");
    }
  }

  function showMessage(text) {
    message.textContent = text;
    message.hidden = !text;
    root.classList.toggle("fabnb-wm-has-message", Boolean(text));
  }

  function renderNow() {
    state.scheduled = false;
    const t0 = state.t0 ?? performance.now();
    state.t0 = null;
    try {
      decode();
      setOptions(waferSel, model.get("wafers") || [], model.get("wafer"));
      setOptions(testSel, model.get("tests") || [], model.get("test"), model.get("test_labels"));
      setOptions(varSel, model.get("variables") || [], model.get("var"));
      testSel.disabled = model.get("var") === "hbin";
      controls.hidden = !model.get("controls");
      const lasso = model.get("select_mode") === "lasso";
      mode.textContent = lasso ? "select: lasso" : "select: box";
      mode.setAttribute("aria-pressed", String(lasso));
      const size = model.get("size") || 420;
      state.size = size;
      sizeCanvas(canvas, size);
      sizeCanvas(overlay, size);
      stage.style.width = `${size}px`;
      stage.style.height = `${size}px`;
      const msg = model.get("message") || "";
      root.classList.toggle("fabnb-wm-nodata", !state.geom);
      if (!state.geom) {
        ctx.clearRect(0, 0, size, size);
        legend.replaceChildren();
        showMessage(msg || "Nothing to draw: the dataset has no die coordinates.");
        status.textContent = "";
      } else {
        drawMap(size, msg);
      }
      if (root.dataset.measureRaster !== undefined) ctx.getImageData(0, 0, 1, 1);
      state.renders += 1;
      root.dataset.renders = String(state.renders);
      root.dataset.renderMs = (performance.now() - t0).toFixed(2);
      root.dataset.wafer = model.get("data_wafer");
      if (state.pickT0 !== null && model.get("data_wafer") === state.pickWafer) {
        root.dataset.switchMs = (performance.now() - state.pickT0).toFixed(2);
        state.pickT0 = null;
      }
    } catch (err) {
      // a readable message in place, not a stack trace in the console
      showMessage(`The wafer map could not be drawn: ${err && err.message ? err.message : err}`);
    }
  }

  function drawMap(size, msg) {
    const pad = 10;
    state.scale = (size - 2 * pad) / state.geom.diameter;
    state.cx = size / 2;
    state.cy = size / 2;
    const groups = drawWafer();
    drawLegend(groups);
    drawStatus();
    drawOverlay();
    showMessage(msg);
  }

  function schedule() {
    if (state.t0 === null) state.t0 = performance.now();
    if (state.scheduled) return;
    state.scheduled = true;
    queueMicrotask(renderNow);
  }

  // ------------------------------------------------------------- interaction
  function localXY(ev) {
    const r = overlay.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }

  function dieAt(px, py) {
    if (!state.geom) return -1;
    const mx = (px - state.cx) / state.scale, my = (state.cy - py) / state.scale;
    const hw = state.geom.die_w / 2, hh = state.geom.die_h / 2;
    const x = state.x, y = state.y;
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i] - mx) <= hw && Math.abs(y[i] - my) <= hh) return i;
    }
    return -1;
  }

  function drawOverlay() {
    octx.clearRect(0, 0, state.size, state.size);
    if (!state.geom) return;
    if (state.hover >= 0 && state.hover < state.x.length) {
      octx.lineWidth = 2;
      octx.strokeStyle = "#e8175d";
      octx.strokeRect(...dieRect(state.hover));
    }
    const d = state.drag;
    if (d && d.moved && d.path) {
      octx.fillStyle = "rgba(30, 110, 220, 0.15)";
      octx.strokeStyle = "rgba(30, 110, 220, 0.9)";
      octx.lineWidth = 1.5;
      octx.beginPath();
      d.path.forEach(([px, py], k) => (k ? octx.lineTo(px, py) : octx.moveTo(px, py)));
      octx.closePath();
      octx.fill();
      octx.stroke();
    } else if (d && d.moved) {
      octx.fillStyle = "rgba(30, 110, 220, 0.15)";
      octx.strokeStyle = "rgba(30, 110, 220, 0.9)";
      octx.lineWidth = 1;
      const [x0, y0, x1, y1] = [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.max(d.x0, d.x1), Math.max(d.y0, d.y1)];
      octx.fillRect(x0, y0, x1 - x0, y1 - y0);
      octx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
  }

  function showTooltip(i, px, py) {
    if (i < 0) { tooltip.hidden = true; return; }
    const v = i < state.values.length ? state.values[i] : NaN;
    const b = i < state.bins.length ? state.bins[i] : -1;
    const unit = model.get("unit");
    tooltip.replaceChildren(
      h("div", "fabnb-wm-tip-head", `die ${i} \u00B7 col ${state.col[i]}, row ${state.row[i]}`),
      h("div", "", `x ${state.x[i].toFixed(2)}, y ${state.y[i].toFixed(2)} ${state.geom.units || "mm"}`),
      h("div", "", `${testLabel() || "value"}: ${fmt(v, unit)}`),
    );
    if ((model.get("variables") || []).includes("hbin")) {
      tooltip.append(h("div", "", `bin ${binLabel(b, model.get("bin_names"), 1).replace(/ \(1\)$/, "")}`));
    }
    tooltip.hidden = false;
    const left = px + 14 + 180 > state.size ? px - 190 : px + 14;
    tooltip.style.left = `${Math.max(0, left)}px`;
    tooltip.style.top = `${Math.max(0, Math.min(py + 12, state.size - 70))}px`;
  }

  function commitSelection(list) {
    model.set("selected", [...new Set(list)].sort((a, b) => a - b));
    model.save_changes();
  }

  function onDown(ev) {
    if (!state.geom || ev.button !== 0) return;
    const [px, py] = localXY(ev);
    state.drag = { x0: px, y0: py, x1: px, y1: py, moved: false, add: ev.shiftKey || ev.ctrlKey || ev.metaKey,
      path: model.get("select_mode") === "lasso" ? [[px, py]] : null };
    overlay.setPointerCapture?.(ev.pointerId);
  }

  function onMove(ev) {
    if (!state.geom) return;
    const [px, py] = localXY(ev);
    const d = state.drag;
    if (d) {
      d.x1 = px; d.y1 = py;
      if (d.path) {  // every point the pointer passed, not only the one per frame
        const points = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
        for (const p of points.length ? points : [ev]) d.path.push(localXY(p));
      }
      if (Math.hypot(d.x1 - d.x0, d.y1 - d.y0) > DRAG_PX) d.moved = true;
    }
    state.hover = d && d.moved ? -1 : dieAt(px, py);
    showTooltip(state.hover, px, py);
    drawOverlay();
  }

  // Dies whose centres (in canvas pixels) satisfy inside(px, py).
  function diesWhere(inside) {
    const found = [];
    for (let i = 0; i < state.x.length; i++) {
      if (inside(state.cx + state.x[i] * state.scale, state.cy - state.y[i] * state.scale)) found.push(i);
    }
    return found;
  }

  function onUp(ev) {
    const d = state.drag;
    state.drag = null;
    if (!d || !state.geom) return;
    const current = model.get("selected") || [];
    if (d.moved && d.path) {
      d.path.push(localXY(ev));
      const inside = d.path.length >= 3 ? diesWhere((px, py) => insidePolygon(px, py, d.path)) : [];
      commitSelection(d.add ? current.concat(inside) : inside);
    } else if (d.moved) {
      const [x0, x1] = [Math.min(d.x0, d.x1), Math.max(d.x0, d.x1)];
      const [y0, y1] = [Math.min(d.y0, d.y1), Math.max(d.y0, d.y1)];
      const inside = diesWhere((px, py) => px >= x0 && px <= x1 && py >= y0 && py <= y1);
      commitSelection(d.add ? current.concat(inside) : inside);
    } else {
      const i = dieAt(d.x0, d.y0);
      if (i < 0) commitSelection(d.add ? current : []);
      else if (d.add) commitSelection(current.includes(i) ? current.filter((j) => j !== i) : current.concat([i]));
      else commitSelection([i]);
    }
    drawOverlay();
  }

  function onLeave() {
    state.hover = -1;
    tooltip.hidden = true;
    if (!state.drag) drawOverlay();
  }

  function pick(key, value) {
    if (key === "wafer") { state.pickT0 = performance.now(); state.pickWafer = value; }
    model.set(key, value);
    model.save_changes();
  }

  function step(delta) {
    const wafers = model.get("wafers") || [];
    if (!wafers.length) return;
    const i = wafers.indexOf(model.get("wafer"));
    pick("wafer", wafers[(Math.max(i, 0) + delta + wafers.length) % wafers.length]);
  }

  overlay.addEventListener("pointerdown", onDown);
  overlay.addEventListener("pointermove", onMove);
  overlay.addEventListener("pointerup", onUp);
  overlay.addEventListener("pointerleave", onLeave);
  waferSel.addEventListener("change", () => pick("wafer", waferSel.value));
  testSel.addEventListener("change", () => pick("test", testSel.value));
  varSel.addEventListener("change", () => pick("var", varSel.value));
  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  clear.addEventListener("click", () => commitSelection([]));
  mode.addEventListener("click", () => {
    model.set("select_mode", model.get("select_mode") === "lasso" ? "box" : "lasso");
    model.save_changes();
  });

  root.fabnbSelection = () => [...(model.get("selected") || [])];
  root.fabnbClientXY = (xmm, ymm) => {
    if (!state.geom) return null;
    const r = overlay.getBoundingClientRect();
    return { x: r.left + state.cx + xmm * state.scale, y: r.top + state.cy - ymm * state.scale };
  };
  root.fabnbDieClientXY = (i) => (i >= 0 && i < (state.x ? state.x.length : 0) ? root.fabnbClientXY(state.x[i], state.y[i]) : null);

  const keys = ["x", "y", "col", "row", "values", "bins", "geometry", "wafer", "test", "var",
    "scale", "wafers", "tests", "test_labels", "bin_colors", "bin_names", "variables", "selected", "select_mode", "message", "data_wafer", "size", "controls", "unit",
    "lsl", "usl", "vmin", "vmax"];
  for (const k of keys) model.on(`change:${k}`, schedule);
  renderNow();
  return () => {
    for (const k of keys) model.off(`change:${k}`, schedule);
  };
}

export default { render };
