// fabnb WaferMap front end (anywidget ES module; no build step, no CDN).
//
// The kernel sends die geometry once (x, y, col, row as float32/int32 buffers) and the
// current wafer on every switch (values float32, bins int32, screen_rule int32).  The
// module is in three parts, as anywidget modules such as lonboard's and quak's are:
//
//   1. readScene(model): one plain snapshot of everything to draw (typed arrays decoded
//      once per buffer), so nothing below touches the model;
//   2. pure functions of a scene: layout and hit test (dieAt, diesWhere), the canvas
//      drawing (drawDies, drawScreen, drawSelection, drawOverlay) and the DOM pieces
//      (legend, colour bar and the placement of its spec-limit labels, screen legend,
//      tooltip, header, status);
//   3. render(): a small controller that builds the elements, listens to the model and
//      hands each redraw to (2).
//
// Dies are grouped by colour (one fill per colour), so 5,500 dies draw in a few ms.
// The colour scale is Python's (fabnb.plot.color_scale): its limits, label, under/over
// colours and counts arrive as traits; dies beyond the limits take the under/over colours.
// Dragging draws a box, or a free-hand lasso when the mode button (`select_mode` trait)
// says "lasso"; dies whose centres fall inside are selected (shift adds).
//
// With the `debug` trait on (the browser tests set it) the root element exposes:
//   root.fabnbDieClientXY(i) -> {x, y} viewport position of die i's centre
//   root.fabnbClientXY(x, y) -> {x, y} viewport position of wafer point (x, y) (in the
//                             units of the die coordinates: mm or die pitch)
//   root.fabnbSelection()     -> the selected die indices
//   root.dataset.renderMs     last re-render time (data received -> drawn), ms
//   root.dataset.switchMs     last picker change -> new wafer drawn (kernel round trip), ms
//   root.dataset.renders      number of renders so far
//   root.dataset.wafer        the wafer whose data are drawn
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
// colour keys past the LUT: not measured, below the scale, above the scale
const NAN_KEY = N_COLORS;
const UNDER_KEY = N_COLORS + 1;
const OVER_KEY = N_COLORS + 2;
const BAR_PX = 200;  // colour bar height
const MARK_PX = 13;  // height of a spec-limit label beside the bar
const DRAG_PX = 4;
const PAD_PX = 10;
const NOTCH_ANGLE = { down: Math.PI / 2, up: -Math.PI / 2, left: Math.PI, right: 0 };

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
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

// ------------------------------------------------------------------ small helpers

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

function pct(share) {
  return share === null || share === undefined ? "n/a" : `${(100 * share).toFixed(1)} %`;
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

// An element; `text` goes in as textContent, so data strings are never parsed as HTML.
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

function swatchRow(color, label, cls) {
  const row = h("div", `fabnb-wm-legend-row${cls ? ` ${cls}` : ""}`);
  const sw = h("span", "fabnb-wm-swatch");
  sw.style.background = color;
  row.append(sw, h("span", "", label));
  return row;
}

// ------------------------------------------------------------------ 1. the scene

const ARRAYS = { x: Float32Array, y: Float32Array, col: Int32Array, row: Int32Array,
  values: Float32Array, bins: Int32Array, beyond: Int8Array, screen_rule: Int32Array };

// Everything one redraw needs, read from the model once.  `cache` keeps the decoded
// typed arrays between redraws (a buffer is decoded only when the kernel sent a new one).
function readScene(model, cache) {
  const scene = {};
  for (const [key, Type] of Object.entries(ARRAYS)) {
    const buf = model.get(key);
    if (!cache[key] || cache[key].buf !== buf) cache[key] = { buf, arr: typed(buf, Type) };
    scene[key] = cache[key].arr;
  }
  for (const key of ["var", "test", "wafer", "unit", "vmin", "vmax", "lsl", "usl", "scale",
    "scale_label", "extend", "under_color", "over_color", "under_label", "over_label",
    "select_mode", "message", "data_wafer", "controls", "debug", "screen_layer"]) {
    scene[key] = model.get(key);
  }
  const g = model.get("geometry") || {};
  const n = scene.x.length;
  scene.geom = g.diameter > 0 && n > 0 && scene.y.length === n ? g : null;
  scene.size = model.get("size") || 420;
  scene.binColors = model.get("bin_colors") || {};
  scene.binNames = model.get("bin_names") || {};
  scene.hasBins = (model.get("variables") || []).includes("hbin");
  scene.selected = (model.get("selected") || []).filter((i) => i >= 0 && i < n);
  scene.yields = model.get("yields") || {};
  const tests = model.get("tests") || [];
  const labels = model.get("test_labels") || [];
  const k = tests.indexOf(scene.test);
  scene.knownTest = k >= 0;
  // the shown test as the picker names it ("<number> <clean name>"), else its name
  scene.testLabel = k >= 0 && k < labels.length ? labels[k] : scene.test;
  scene.screen = {
    rules: model.get("screen_rules") || [],
    colors: model.get("rule_colors") || {},
    labels: model.get("rule_labels") || {},
    reasons: model.get("screen_reasons") || {},
  };
  scene.screen.on = scene.screen.rules.length > 0 && scene.screen_layer;
  return scene;
}

// ------------------------------------------------------------------ 2. pure functions

// Canvas pixels per coordinate unit and the wafer centre, for a square canvas of `size`
// spanning geom.extent: the wafer, or the farthest die when one lies outside it.
function layout(geom, size) {
  return { size, scale: (size - 2 * PAD_PX) / geom.extent, cx: size / 2, cy: size / 2 };
}

function dieCentre(view, scene, i) {
  return [view.cx + scene.x[i] * view.scale, view.cy - scene.y[i] * view.scale];
}

function dieRect(view, scene, i) {
  const w = scene.geom.die_w * view.scale, hh = scene.geom.die_h * view.scale;
  const [px, py] = dieCentre(view, scene, i);
  return [px - w / 2, py - hh / 2, w, hh];
}

// Hit test: the die whose rectangle holds canvas pixel (px, py), or -1.
function dieAt(view, scene, px, py) {
  if (!scene.geom) return -1;
  const mx = (px - view.cx) / view.scale, my = (view.cy - py) / view.scale;
  const hw = scene.geom.die_w / 2, hh = scene.geom.die_h / 2;
  const { x, y } = scene;
  for (let i = 0; i < x.length; i++) {
    if (Math.abs(x[i] - mx) <= hw && Math.abs(y[i] - my) <= hh) return i;
  }
  return -1;
}

// Dies whose centres (canvas pixels) satisfy inside(px, py).
function diesWhere(view, scene, inside) {
  const found = [];
  for (let i = 0; i < scene.x.length; i++) {
    if (inside(...dieCentre(view, scene, i))) found.push(i);
  }
  return found;
}

function binColor(code, colors) {
  return colors[String(code)] || UNKNOWN_BIN_COLOR;
}

// Legend text of a bin: code, name, pass/fail (bin 1 passes: the dataset contract).
function binLabel(code, names, count) {
  if (code < 0) return `untested (${count})`;
  const name = names[String(code)] ? ` ${names[String(code)]}` : "";
  return `${code}${name} \u00B7 ${code === 1 ? "pass" : "fail"} (${count})`;
}

// Colour key per die: the bin code, or the LUT index 0..255, NAN_KEY (not measured),
// UNDER_KEY / OVER_KEY (below / above the scale).  Which dies are beyond the scale is
// Python's call (the `beyond` buffer): the float32 values here cannot tell a reading a
// hair below a limit from the limit, Python's float64 ones can.
function colorKeys(scene) {
  const n = scene.x.length;
  const keys = new Int32Array(n);
  if (scene.var === "hbin") {
    for (let i = 0; i < n; i++) keys[i] = i < scene.bins.length ? scene.bins[i] : -1;
    return keys;
  }
  const lo = scene.vmin, hi = scene.vmax;
  const ok = lo !== null && hi !== null && hi > lo;
  const k = ok ? (N_COLORS - 1) / (hi - lo) : 0;
  const v = scene.values, side = scene.beyond;
  for (let i = 0; i < n; i++) {
    const val = i < v.length ? v[i] : NaN;
    const s = i < side.length ? side[i] : 0;
    if (!ok || Number.isNaN(val)) keys[i] = NAN_KEY;
    else if (s < 0) keys[i] = UNDER_KEY;
    else if (s > 0) keys[i] = OVER_KEY;
    else keys[i] = Math.min(N_COLORS - 1, Math.max(0, Math.round((val - lo) * k)));
  }
  return keys;
}

function keyColor(scene, key) {
  if (scene.var === "hbin") return binColor(key, scene.binColors);
  if (key === NAN_KEY) return NAN_COLOR;
  if (key === UNDER_KEY) return scene.under_color;
  if (key === OVER_KEY) return scene.over_color;
  return LUT[key];
}

// The rule (name) that screened die i out when the layer is drawn, else null.
function screenRule(scene, i) {
  if (!scene.screen.on || i >= scene.screen_rule.length) return null;
  const k = scene.screen_rule[i];
  return k >= 0 && k < scene.screen.rules.length ? scene.screen.rules[k] : null;
}

// Fill colour of die i: the screening rule's colour, else its value or bin colour.
function dieFill(scene, keys, i) {
  const rule = screenRule(scene, i);
  return rule ? scene.screen.colors[rule] || UNKNOWN_BIN_COLOR : keyColor(scene, keys[i]);
}

function waferOutline(view, geom) {
  const radius = (geom.diameter / 2) * view.scale;
  const notch = NOTCH_ANGLE[geom.notch] ?? Math.PI / 2;
  const half = 0.035;  // half-width of the notch in radians
  const depth = Math.max(4, radius * 0.03);
  const outline = new Path2D();
  outline.arc(view.cx, view.cy, radius, notch + half, notch + 2 * Math.PI - half);
  outline.lineTo(view.cx + (radius - depth) * Math.cos(notch), view.cy + (radius - depth) * Math.sin(notch));
  outline.closePath();
  return outline;
}

// The wafer and its dies (value/bin colours, screened dies in their rule's colour).
// Returns the dies per colour key (the legend counts them).
function drawDies(ctx, view, scene, keys) {
  const outline = waferOutline(view, scene.geom);
  ctx.clearRect(0, 0, view.size, view.size);
  ctx.fillStyle = "#f8f8f6";
  ctx.fill(outline);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#555";
  ctx.stroke(outline);
  const byKey = new Map();
  const byFill = new Map();  // one path and one fill per colour
  for (let i = 0; i < keys.length; i++) {
    let list = byKey.get(keys[i]);
    if (!list) { list = []; byKey.set(keys[i], list); }
    list.push(i);
    const fill = dieFill(scene, keys, i);
    let same = byFill.get(fill);
    if (!same) { same = []; byFill.set(fill, same); }
    same.push(i);
  }
  const w = scene.geom.die_w * view.scale, hh = scene.geom.die_h * view.scale;
  const gap = Math.min(w, hh) > 5 ? 0.6 : 0;
  for (const [fill, list] of byFill) {
    ctx.fillStyle = fill;
    ctx.beginPath();
    for (const i of list) {
      const [px, py] = dieCentre(view, scene, i);
      ctx.rect(px - w / 2 + gap / 2, py - hh / 2 + gap / 2, w - gap, hh - gap);
    }
    ctx.fill();
  }
  return { outline, byKey };
}

// Screened dies: a dark frame with a white ring inside sets them apart from bins and
// values of a similar hue (the rule colours and the bin palette share hues).
// Returns the count of dies per rule on this wafer.
function drawScreen(ctx, view, scene) {
  const counts = new Map(scene.screen.rules.map((r) => [r, 0]));
  if (!scene.screen.on) return counts;
  const frame = new Path2D(), ring = new Path2D();
  for (let i = 0; i < scene.x.length; i++) {
    const rule = screenRule(scene, i);
    if (!rule) continue;
    counts.set(rule, counts.get(rule) + 1);
    const [x0, y0, w, hh] = dieRect(view, scene, i);
    frame.rect(x0 + 0.75, y0 + 0.75, w - 1.5, hh - 1.5);
    if (Math.min(w, hh) > 9) ring.rect(x0 + 2.5, y0 + 2.5, w - 5, hh - 5);
  }
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#111";
  ctx.stroke(frame);
  ctx.lineWidth = 1;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
  ctx.stroke(ring);
  return counts;
}

// Selection: fade the other dies, redraw the selected ones at full colour, outline them.
function drawSelection(ctx, view, scene, keys, outline) {
  if (!scene.selected.length) return;
  ctx.fillStyle = "rgba(255, 255, 255, 0.6)";
  ctx.fill(outline);
  for (const i of scene.selected) {
    ctx.fillStyle = dieFill(scene, keys, i);
    ctx.fillRect(...dieRect(view, scene, i));
  }
  ctx.beginPath();
  for (const i of scene.selected) ctx.rect(...dieRect(view, scene, i));
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#111";
  ctx.stroke();
}

// Hover frame and the box or lasso being dragged.
function drawOverlay(octx, view, scene, hover, drag) {
  octx.clearRect(0, 0, view.size, view.size);
  if (!scene.geom) return;
  if (hover >= 0 && hover < scene.x.length) {
    octx.lineWidth = 2;
    octx.strokeStyle = "#e8175d";
    octx.strokeRect(...dieRect(view, scene, hover));
  }
  if (!drag || !drag.moved) return;
  octx.fillStyle = "rgba(30, 110, 220, 0.15)";
  octx.strokeStyle = "rgba(30, 110, 220, 0.9)";
  if (drag.path) {
    octx.lineWidth = 1.5;
    octx.beginPath();
    drag.path.forEach(([px, py], k) => (k ? octx.lineTo(px, py) : octx.moveTo(px, py)));
    octx.closePath();
    octx.fill();
    octx.stroke();
  } else {
    octx.lineWidth = 1;
    const [x0, y0] = [Math.min(drag.x0, drag.x1), Math.min(drag.y0, drag.y1)];
    const [w, hh] = [Math.abs(drag.x1 - drag.x0), Math.abs(drag.y1 - drag.y0)];
    octx.fillRect(x0, y0, w, hh);
    octx.strokeRect(x0, y0, w, hh);
  }
}

function binLegend(scene, byKey) {
  const out = [h("div", "fabnb-wm-legend-title", "hard bin")];
  for (const code of [...byKey.keys()].sort((a, b) => a - b)) {
    out.push(swatchRow(binColor(code, scene.binColors), binLabel(code, scene.binNames, byKey.get(code).length)));
  }
  return out;
}

// Tops (px) of labels `size` px tall wanted centred at `ys` (px from the top of a column
// `height` px tall): in the order of `ys`, inside the column, no two overlapping (pushed
// apart downwards, then back up from the bottom end).  The spec-limit labels beside the
// colour bar: they sit in their own column, so they never cover the tick labels either.
function layoutMarks(ys, height, size) {
  const order = ys.map((_, i) => i).sort((a, b) => ys[a] - ys[b]);
  const tops = new Array(ys.length);
  let next = 0;
  for (const i of order) {
    tops[i] = Math.max(ys[i] - size / 2, next);
    next = tops[i] + size;
  }
  let limit = height - size;
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k];
    tops[i] = Math.min(tops[i], limit);
    limit = tops[i] - size;
  }
  return tops;
}

// The spec limits inside the scale [lo, hi]: [{name, value, y}] with y px from the bar's top.
function specMarks(scene, lo, hi) {
  const marks = [];
  for (const [name, value] of [["USL", scene.usl], ["LSL", scene.lsl]]) {
    if (value === null || value < lo || value > hi) continue;
    marks.push({ name, value, y: (BAR_PX * (hi - value)) / (hi - lo) });
  }
  return marks;
}

// An extension triangle of the bar ("over" on top, "under" below), in Python's colour,
// hidden (its room kept) on a side where no die falls beyond and no spec limit is.
function extendTriangle(scene, side) {
  const tri = h("div", `fabnb-wm-extend fabnb-wm-extend-${side}`);
  const shown = scene.extend === "both" || scene.extend === (side === "over" ? "max" : "min");
  tri.style.visibility = shown ? "visible" : "hidden";
  tri.style[side === "over" ? "borderBottomColor" : "borderTopColor"] =
    side === "over" ? scene.over_color : scene.under_color;
  tri.title = side === "over" ? scene.over_label : scene.under_label;
  return [tri, shown];
}

function colorBar(scene, byKey) {
  const unit = scene.unit;
  const out = [h("div", "fabnb-wm-legend-title",
    scene.knownTest ? `${scene.testLabel}${unit ? ` [${unit}]` : ""}` : "value")];
  const lo = scene.vmin, hi = scene.vmax;
  const beyond = [];
  if (lo === null || hi === null) {
    out.push(h("div", "fabnb-wm-legend-note", "no colour scale"));
  } else {
    const bar = h("div", "fabnb-wm-colorbar");
    bar.style.height = `${BAR_PX}px`;
    bar.style.background = `linear-gradient(to bottom, ${VIRIDIS.slice().reverse().join(", ")})`;
    const [over, overShown] = extendTriangle(scene, "over");
    const [under, underShown] = extendTriangle(scene, "under");
    const barCol = h("div", "fabnb-wm-colorbar-col");
    barCol.append(over, bar, under);
    const labels = h("div", "fabnb-wm-colorbar-labels");
    labels.style.height = `${BAR_PX}px`;
    labels.append(h("span", "", fmt(hi)), h("span", "", fmt((lo + hi) / 2)), h("span", "", fmt(lo)));
    const markCol = h("div", "fabnb-wm-marks");
    markCol.style.height = `${BAR_PX}px`;
    const marks = specMarks(scene, lo, hi);
    const tops = layoutMarks(marks.map((m) => m.y), BAR_PX, MARK_PX);
    marks.forEach((m, k) => {
      const line = h("div", "fabnb-wm-speclimit");
      line.style.top = `${m.y}px`;
      bar.append(line);
      const label = h("div", "fabnb-wm-speclabel", `${m.name} ${fmt(m.value)}`);
      label.dataset.limit = m.name;
      label.style.top = `${tops[k]}px`;
      label.style.height = `${MARK_PX}px`;
      markCol.append(label);
    });
    const wrap = h("div", "fabnb-wm-colorbar-wrap");
    wrap.append(markCol, barCol, labels);
    out.push(wrap);
    for (const [side, shown, color, text] of [["over", overShown, scene.over_color, scene.over_label],
      ["under", underShown, scene.under_color, scene.under_label]]) {
      if (!shown) continue;
      const row = swatchRow(color, text, "fabnb-wm-beyond-row");
      row.dataset.side = side;
      beyond.push(row);
    }
  }
  out.push(...beyond);
  const nan = byKey.get(NAN_KEY);
  if (nan) out.push(swatchRow(NAN_COLOR, `not measured (${nan.length})`));
  // the scale really used, in Python's words (fabnb.plot.color_scale)
  if (scene.scale_label) out.push(h("div", "fabnb-wm-legend-note fabnb-wm-scale-note", scene.scale_label));
  return out;
}

// One row per rule of the result, with the dies it screened out on this wafer.
function screenLegend(scene, counts) {
  if (!scene.screen.on) return [];
  const out = [h("div", "fabnb-wm-legend-title fabnb-wm-screen-title", "screened out")];
  for (const rule of scene.screen.rules) {
    const row = swatchRow(scene.screen.colors[rule] || UNKNOWN_BIN_COLOR,
      `${scene.screen.labels[rule] || rule} (${counts.get(rule)})`, "fabnb-wm-screen-row");
    row.dataset.rule = rule;
    out.push(row);
  }
  return out;
}

// Tooltip lines of die i: [class, text] pairs.
function tooltipLines(scene, i) {
  const lines = [
    ["fabnb-wm-tip-head", `die ${i} \u00B7 col ${scene.col[i]}, row ${scene.row[i]}`],
    ["", `x ${scene.x[i].toFixed(2)}, y ${scene.y[i].toFixed(2)} ${scene.geom.units || "mm"}`],
    ["", `${scene.testLabel || "value"}: ${fmt(i < scene.values.length ? scene.values[i] : NaN, scene.unit)}`],
  ];
  if (scene.hasBins) {
    const b = i < scene.bins.length ? scene.bins[i] : -1;
    lines.push(["", `bin ${binLabel(b, scene.binNames, 1).replace(/ \(1\)$/, "")}`]);
  }
  const rule = screenRule(scene, i);
  if (rule) {
    lines.push(["fabnb-wm-tip-screen", `screened out by ${scene.screen.labels[rule] || rule}`]);
    for (const why of (scene.screen.reasons[String(i)] || "").split("\n")) {
      if (why) lines.push(["fabnb-wm-tip-why", why]);
    }
  }
  return lines;
}

// Header: the wafer and its yield, the lot and its yield.
function headerText(scene) {
  const y = scene.yields;
  if (!y.wafer) return scene.wafer ? `wafer ${scene.wafer}` : "";
  return `wafer ${y.wafer}: yield ${pct(y.wafer_yield)} (${y.wafer_passed}/${y.wafer_tested} dies)` +
    ` \u00B7 lot ${y.lot}: yield ${pct(y.lot_yield)} (${y.lot_passed}/${y.lot_tested} dies,` +
    ` ${y.lot_wafers} ${y.lot_wafers === 1 ? "wafer" : "wafers"})`;
}

function statusText(scene) {
  const sel = scene.selected;
  const where = `wafer ${scene.wafer} \u00B7 ${scene.var === "hbin" ? "hard bin" : scene.testLabel}`;
  if (!sel.length) {
    const drag = scene.select_mode === "lasso" ? "lasso" : "box";
    return `${where} \u00B7 No dies selected: click a die (shift-click adds), or drag a ${drag}.`;
  }
  const shown = sel.slice(0, 8).join(", ") + (sel.length > 8 ? ", \u2026" : "");
  return `${where} \u00B7 ${sel.length} ${sel.length === 1 ? "die" : "dies"} selected: ${shown}`;
}

function sizeCanvas(c, size) {
  const dpr = window.devicePixelRatio || 1;
  if (c.width !== Math.round(size * dpr)) {
    c.width = Math.round(size * dpr);
    c.height = Math.round(size * dpr);
  }
  c.style.width = `${size}px`;
  c.style.height = `${size}px`;
  c.getContext("2d").setTransform(dpr, 0, 0, dpr, 0, 0);
}

// ------------------------------------------------------------------ 3. the controller

function render({ model, el }) {
  const root = h("div", "fabnb-wafermap");
  const header = h("div", "fabnb-wm-header");
  const controls = h("div", "fabnb-wm-controls");
  const prev = h("button", "fabnb-wm-prev", "\u25C0");
  prev.title = "previous wafer";
  const next = h("button", "fabnb-wm-next", "\u25B6");
  next.title = "next wafer";
  const [waferWrap, waferSel] = picker("wafer", "fabnb-wm-wafer");
  const [testWrap, testSel] = picker("test", "fabnb-wm-test");
  const [varWrap, varSel] = picker("show", "fabnb-wm-var");
  const [scaleWrap, scaleSel] = picker("scale", "fabnb-wm-scale");
  scaleWrap.title = "colour scale of the values (a fixed clim set in Python overrides it)";
  const mode = h("button", "fabnb-wm-mode");
  mode.title = "drag selects dies in a box or inside a free-hand lasso (click to switch)";
  const clear = h("button", "fabnb-wm-clear", "clear selection");
  const screenWrap = h("label", "fabnb-wm-picker fabnb-wm-screen-toggle");
  const screenBox = h("input", "fabnb-wm-screen");
  screenBox.type = "checkbox";
  screenWrap.append(screenBox, h("span", "", "screen"));
  screenWrap.title = "show the dies the outlier screen took out, in the colour of its rule";
  controls.append(prev, waferWrap, next, testWrap, varWrap, scaleWrap, screenWrap, mode, clear);

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
  root.append(header, controls, body, status);
  el.append(root);

  const ctx = canvas.getContext("2d");
  const octx = overlay.getContext("2d");
  const cache = {};
  let scene = readScene(model, cache);
  let view = null;
  const ui = { hover: -1, drag: null, t0: null, pickT0: null, pickWafer: null, renders: 0, scheduled: false };

  function showMessage(text) {
    message.textContent = text;
    message.hidden = !text;
    root.classList.toggle("fabnb-wm-has-message", Boolean(text));
  }

  function syncControls() {
    setOptions(waferSel, model.get("wafers") || [], scene.wafer);
    setOptions(testSel, model.get("tests") || [], scene.test, model.get("test_labels"));
    setOptions(varSel, model.get("variables") || [], scene.var);
    setOptions(scaleSel, model.get("scales") || [], scene.scale, model.get("scale_names"));
    scaleWrap.hidden = scene.var === "hbin";
    testSel.disabled = scene.var === "hbin";
    controls.hidden = !scene.controls;
    screenWrap.hidden = !scene.screen.rules.length;
    screenBox.checked = Boolean(scene.screen_layer);
    const lasso = scene.select_mode === "lasso";
    mode.textContent = lasso ? "select: lasso" : "select: box";
    mode.setAttribute("aria-pressed", String(lasso));
  }

  function draw() {
    const size = scene.size;
    sizeCanvas(canvas, size);
    sizeCanvas(overlay, size);
    stage.style.width = `${size}px`;
    stage.style.height = `${size}px`;
    header.textContent = headerText(scene);
    root.classList.toggle("fabnb-wm-nodata", !scene.geom);
    if (!scene.geom) {
      view = null;
      ctx.clearRect(0, 0, size, size);
      legend.replaceChildren();
      showMessage(scene.message || "Nothing to draw: the dataset has no die coordinates.");
      status.textContent = "";
      return;
    }
    view = layout(scene.geom, size);
    const keys = colorKeys(scene);
    const { outline, byKey } = drawDies(ctx, view, scene, keys);
    const counts = drawScreen(ctx, view, scene);
    drawSelection(ctx, view, scene, keys, outline);
    legend.replaceChildren(...(scene.var === "hbin" ? binLegend(scene, byKey) : colorBar(scene, byKey)),
      ...screenLegend(scene, counts));
    status.textContent = statusText(scene);
    status.classList.toggle("fabnb-wm-empty", !scene.selected.length);
    drawOverlay(octx, view, scene, ui.hover, ui.drag);
    showMessage(scene.message || "");
  }

  function debugHooks(t0) {
    if (!scene.debug) return;
    if (root.dataset.measureRaster !== undefined) ctx.getImageData(0, 0, 1, 1);
    ui.renders += 1;
    root.dataset.renders = String(ui.renders);
    root.dataset.renderMs = (performance.now() - t0).toFixed(2);
    root.dataset.wafer = scene.data_wafer;
    if (ui.pickT0 !== null && scene.data_wafer === ui.pickWafer) {
      root.dataset.switchMs = (performance.now() - ui.pickT0).toFixed(2);
      ui.pickT0 = null;
    }
    root.fabnbSelection = () => [...(model.get("selected") || [])];
    root.fabnbClientXY = (x, y) => {
      if (!view) return null;
      const r = overlay.getBoundingClientRect();
      return { x: r.left + view.cx + x * view.scale, y: r.top + view.cy - y * view.scale };
    };
    root.fabnbDieClientXY = (i) => (i >= 0 && i < scene.x.length ? root.fabnbClientXY(scene.x[i], scene.y[i]) : null);
  }

  function renderNow() {
    ui.scheduled = false;
    const t0 = ui.t0 ?? performance.now();
    ui.t0 = null;
    try {
      scene = readScene(model, cache);
      syncControls();
      draw();
      debugHooks(t0);
    } catch (err) {
      // a readable message in place, not a stack trace in the console
      showMessage(`The wafer map could not be drawn: ${err && err.message ? err.message : err}`);
    }
  }

  function schedule() {
    if (ui.t0 === null) ui.t0 = performance.now();
    if (ui.scheduled) return;
    ui.scheduled = true;
    queueMicrotask(renderNow);
  }

  // ------------------------------------------------------------- interaction
  function localXY(ev) {
    const r = overlay.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }

  function showTooltip(i, px, py) {
    if (i < 0) { tooltip.hidden = true; return; }
    tooltip.replaceChildren(...tooltipLines(scene, i).map(([cls, text]) => h("div", cls, text)));
    tooltip.hidden = false;
    const left = px + 14 + 180 > view.size ? px - 190 : px + 14;
    tooltip.style.left = `${Math.max(0, left)}px`;
    tooltip.style.top = `${Math.max(0, Math.min(py + 12, view.size - 70))}px`;
  }

  function commitSelection(list) {
    model.set("selected", [...new Set(list)].sort((a, b) => a - b));
    model.save_changes();
  }

  function onDown(ev) {
    if (!view || ev.button !== 0) return;
    const [px, py] = localXY(ev);
    ui.drag = { x0: px, y0: py, x1: px, y1: py, moved: false, add: ev.shiftKey || ev.ctrlKey || ev.metaKey,
      path: scene.select_mode === "lasso" ? [[px, py]] : null };
    overlay.setPointerCapture?.(ev.pointerId);
  }

  function onMove(ev) {
    if (!view) return;
    const [px, py] = localXY(ev);
    const d = ui.drag;
    if (d) {
      d.x1 = px; d.y1 = py;
      if (d.path) {  // every point the pointer passed, not only the one per frame
        const points = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
        for (const p of points.length ? points : [ev]) d.path.push(localXY(p));
      }
      if (Math.hypot(d.x1 - d.x0, d.y1 - d.y0) > DRAG_PX) d.moved = true;
    }
    ui.hover = d && d.moved ? -1 : dieAt(view, scene, px, py);
    showTooltip(ui.hover, px, py);
    drawOverlay(octx, view, scene, ui.hover, ui.drag);
  }

  function onUp(ev) {
    const d = ui.drag;
    ui.drag = null;
    if (!d || !view) return;
    const current = model.get("selected") || [];
    if (d.moved && d.path) {
      d.path.push(localXY(ev));
      const inside = d.path.length >= 3 ? diesWhere(view, scene, (px, py) => insidePolygon(px, py, d.path)) : [];
      commitSelection(d.add ? current.concat(inside) : inside);
    } else if (d.moved) {
      const [x0, x1] = [Math.min(d.x0, d.x1), Math.max(d.x0, d.x1)];
      const [y0, y1] = [Math.min(d.y0, d.y1), Math.max(d.y0, d.y1)];
      const inside = diesWhere(view, scene, (px, py) => px >= x0 && px <= x1 && py >= y0 && py <= y1);
      commitSelection(d.add ? current.concat(inside) : inside);
    } else {
      const i = dieAt(view, scene, d.x0, d.y0);
      if (i < 0) commitSelection(d.add ? current : []);
      else if (d.add) commitSelection(current.includes(i) ? current.filter((j) => j !== i) : current.concat([i]));
      else commitSelection([i]);
    }
    drawOverlay(octx, view, scene, ui.hover, ui.drag);
  }

  function onLeave() {
    ui.hover = -1;
    tooltip.hidden = true;
    if (!ui.drag && view) drawOverlay(octx, view, scene, ui.hover, ui.drag);
  }

  function pick(key, value) {
    if (key === "wafer") { ui.pickT0 = performance.now(); ui.pickWafer = value; }
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
  scaleSel.addEventListener("change", () => pick("scale", scaleSel.value));
  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  clear.addEventListener("click", () => commitSelection([]));
  screenBox.addEventListener("change", () => pick("screen_layer", screenBox.checked));
  mode.addEventListener("click", () => pick("select_mode", model.get("select_mode") === "lasso" ? "box" : "lasso"));

  // the traits to listen to are the ones Python declares (`synced`): one list, in Python
  const traits = model.get("synced") || [];
  for (const k of traits) model.on(`change:${k}`, schedule);
  renderNow();
  return () => {
    for (const k of traits) model.off(`change:${k}`, schedule);
  };
}

export default { render };
// the pure layout function, for tests (anywidget uses the default export only)
export { layoutMarks };
