// kafka-sim timeline page: draws the embedded trace (see src/trace/html.rs for the data).
// Reads nothing but the data and location.hash; writes text with textContent only.
"use strict";
(function () {
  var status = document.getElementById("status");
  function fail(msg) {
    status.dataset.errors = String(Number(status.dataset.errors || 0) + 1);
    status.dataset.error = String(msg);
  }
  window.addEventListener("error", function (e) { fail(e.message); });

  var LANE_H = 26, AXIS_H = 24, PAD = 16;
  var D = JSON.parse(document.getElementById("data").textContent);
  var N = D.ev.length, L = D.lanes.length;
  var T = new Float64Array(N), LANE = new Int32Array(N);
  // Each kind's field positions, by name; `ev[3]` becomes the kind's name.
  var FIELD = D.kinds.map(function (k) { var m = {}; k.fields.forEach(function (f, j) { m[f] = j; }); return m; });
  var KIND = new Int32Array(N);
  for (var i = 0; i < N; i++) {
    T[i] = D.ev[i][0]; LANE[i] = D.ev[i][1]; KIND[i] = D.ev[i][3];
    D.ev[i][3] = D.kinds[KIND[i]].name;
  }
  // Field `name` of event `i` as the trace holds it (a table back to a list of objects), or
  // undefined.
  function field(i, name) {
    var j = FIELD[KIND[i]][name];
    var v = j === undefined ? null : D.raw[i][j];
    if (v === null) return undefined;
    var cols = D.kinds[KIND[i]].tables[name];
    if (!cols) return v;
    return v.map(function (row) {
      var o = {};
      cols.forEach(function (c, k) { if (row[k] !== null) o[c] = row[k]; });
      return o;
    });
  }
  // Every field of event `i`, as the trace line holds them.
  function fieldsOf(i) {
    var o = { t_us: T[i], node: D.lanes[LANE[i]] ? D.lanes[LANE[i]].name : "", kind: D.ev[i][3] };
    D.kinds[KIND[i]].fields.forEach(function (f) { var v = field(i, f); if (v !== undefined) o[f] = v; });
    return o;
  }
  // Event numbers by time, overall and per lane (traces are in time order; sort anyway).
  function byTime(a, b) { return T[a] - T[b] || a - b; }
  var order = [];
  var perLane = [];
  for (var l = 0; l < L; l++) perLane.push([]);
  for (i = 0; i < N; i++) { order.push(i); if (perLane[LANE[i]]) perLane[LANE[i]].push(i); }
  order.sort(byTime);
  perLane.forEach(function (a) { a.sort(byTime); });
  var tMin = N ? T[order[0]] : 0, tMax = N ? T[order[N - 1]] : 1;
  if (tMax <= tMin) tMax = tMin + 1;

  // --- DOM ---------------------------------------------------------------------------------
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  var app = document.getElementById("app");
  var toolbar = el("div", { id: "toolbar" });
  var buttons = [["fit", "Fit", "whole run (0)"], ["in", "+", "zoom in (+)"], ["out", "−", "zoom out (-)"],
                 ["prev", "◀", "previous event on the lane (←)"], ["next", "▶", "next event on the lane (→)"]];
  var btn = {};
  buttons.forEach(function (b) { btn[b[0]] = toolbar.appendChild(el("button", { id: "btn-" + b[0], title: b[2] }, b[1])); });
  var search = toolbar.appendChild(el("input", { type: "search", id: "search", placeholder: "filter: text or /regex/" }));
  var writesLabel = toolbar.appendChild(el("label", null, " writes "));
  var showWrites = writesLabel.insertBefore(el("input", { type: "checkbox", id: "show-writes" }), writesLabel.firstChild);
  showWrites.checked = true;
  toolbar.appendChild(el("span", { class: "hint" }, "wheel: zoom · drag: pan · click: details"));
  app.appendChild(toolbar);
  var legend = app.appendChild(el("div", { id: "legend" }));
  var seenKind = {};
  for (i = 0; i < N; i++) {
    var k = D.ev[i][3];
    if (!seenKind[k]) { seenKind[k] = 1; var chip = legend.appendChild(el("span", null, k)); chip.style.setProperty("--c", D.palette[D.ev[i][2]]); }
  }
  var diagram = app.appendChild(el("div", { id: "diagram" }));
  var lanesDiv = diagram.appendChild(el("div", { id: "lanes" }));
  lanesDiv.appendChild(el("div", { class: "axis-spacer" })).style.height = AXIS_H + "px";
  D.lanes.forEach(function (ln, j) {
    var d = lanesDiv.appendChild(el("div", { class: "lane " + ln.role, "data-node": ln.name, "data-lane": String(j), title: ln.role }, ln.name));
    d.style.height = LANE_H + "px";
  });
  var plot = diagram.appendChild(el("div", { id: "plot" }));
  var canvas = plot.appendChild(el("canvas", { id: "canvas" }));
  var hover = plot.appendChild(el("div", { id: "hover" }));
  var panels = app.appendChild(el("div", { id: "panels" }));
  var vSec = panels.appendChild(el("section"));
  vSec.appendChild(el("h2", null, "Checker verdicts"));
  var vSummary = vSec.appendChild(el("p", { id: "verdict-summary" }));
  var vList = vSec.appendChild(el("ul", { id: "verdicts" }));
  var dSec = panels.appendChild(el("section"));
  dSec.appendChild(el("h2", null, "Details"));
  var details = dSec.appendChild(el("div", { id: "details" }));
  details.appendChild(el("p", { class: "note" }, "Click an event, or a verdict's violation."));

  // --- view --------------------------------------------------------------------------------
  var ctx = canvas.getContext("2d");
  var W = 0, H = AXIS_H + LANE_H * Math.max(L, 1) + 8;
  var view = { t0: tMin, scale: 1 };  // time at x = 0; pixels per microsecond
  var selected = -1, marked = [], markedSet = {}, filter = null, activeEl = null;
  function x(t) { return (t - view.t0) * view.scale; }
  function tAt(px) { return view.t0 + px / view.scale; }
  function laneY(l) { return AXIS_H + l * LANE_H + LANE_H / 2; }
  function fitTo(a, b) {
    if (b - a < 1) { a -= 0.5; b += 0.5; }
    view.scale = (W - 2 * PAD) / (b - a);
    view.t0 = a - PAD / view.scale;
  }
  function zoom(f, px) {
    var t = tAt(px);
    view.scale = Math.min(Math.max(view.scale * f, 1e-9), 50);
    view.t0 = t - px / view.scale;
    draw();
  }
  function resize() {
    var w = Math.max(200, plot.clientWidth || 800);
    var dpr = window.devicePixelRatio || 1;
    var first = W === 0;
    var keep = first ? null : [tAt(0), tAt(W)];
    W = w;
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    canvas.style.width = W + "px"; canvas.style.height = H + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (first) fitTo(tMin, tMax); else { view.t0 = keep[0]; view.scale = W / (keep[1] - keep[0]); }
    draw();
  }

  function fmtTick(us) {
    var s = us < 0 ? "-" : "", a = Math.abs(us);
    function trim(v, unit, digits) { return s + String(Number(v.toFixed(digits))) + unit; }
    if (a === 0) return "0";
    if (a < 1000) return trim(a, "us", 0);
    if (a < 1e6) return trim(a / 1000, "ms", 3);
    return trim(a / 1e6, "s", 6);
  }
  function fmtTime(us) {
    var s = us < 0 ? "-" : "+", a = Math.abs(us);
    var sec = Math.floor(a / 1e6), frac = String(a % 1e6);
    while (frac.length < 6) frac = "0" + frac;
    return s + sec + "." + frac + "s";
  }
  function lowerBound(arr, t) {
    var lo = 0, hi = arr.length;
    while (lo < hi) { var m = (lo + hi) >> 1; if (T[arr[m]] < t) lo = m + 1; else hi = m; }
    return lo;
  }
  function matches(i) {
    if (!filter) return true;
    var e = D.ev[i];
    var hay = D.lanes[e[1]] ? D.lanes[e[1]].name + " " + e[3] + " " + e[4] : e[3] + " " + e[4];
    return filter.test(hay);
  }

  // --- drawing -----------------------------------------------------------------------------
  function draw() {
    var a = tAt(-20), b = tAt(W + 20);
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    for (var l = 0; l < L; l++) {
      if (l % 2) { ctx.fillStyle = "#fafafa"; ctx.fillRect(0, AXIS_H + l * LANE_H, W, LANE_H); }
      ctx.strokeStyle = D.lanes[l].role === "sim" ? "#ddd" : "#ccc";
      ctx.beginPath(); ctx.moveTo(0, laneY(l)); ctx.lineTo(W, laneY(l)); ctx.stroke();
    }
    // Axis: round steps at least 90px apart.
    var raw = 90 / view.scale, mag = Math.pow(10, Math.floor(Math.log10(raw))), step = 10 * mag;
    [1, 2, 5, 10].some(function (m) { if (m * mag >= raw) { step = m * mag; return true; } return false; });
    step = Math.max(step, 1);
    ctx.font = "11px monospace"; ctx.textAlign = "center"; ctx.textBaseline = "alphabetic";
    for (var t = Math.ceil(a / step) * step, n = 0; t <= b && n < 200; t += step, n++) {
      var tx = x(t);
      ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(tx, AXIS_H - 4); ctx.lineTo(tx, H); ctx.stroke();
      ctx.fillStyle = "#666"; ctx.fillText(fmtTick(Math.round(t)), tx, AXIS_H - 8);
    }
    // Lasting faults, shaded.
    D.spells.forEach(function (s) {
      if (s[1] < a || s[0] > b) return;
      var x0 = Math.max(x(s[0]), -5), x1 = Math.min(x(s[1]), W + 5);
      ctx.fillStyle = "rgba(214,39,40,0.09)";
      if (s[2] < 0) ctx.fillRect(x0, AXIS_H, Math.max(x1 - x0, 1), LANE_H * L);
      else ctx.fillRect(x0, AXIS_H + s[2] * LANE_H + 3, Math.max(x1 - x0, 1), LANE_H - 6);
    });
    // Writes: an arrow to the leader at send time and back at ack time.
    if (showWrites.checked) {
      ctx.lineWidth = 1;
      D.writes.forEach(function (w) {
        var s = w[0], k = w[1];
        if (s < 0) return;
        var t1 = k >= 0 ? T[k] : tMax;
        if (t1 < a || T[s] > b) return;
        var py = laneY(LANE[s]), x0 = x(T[s]), x1 = x(t1);
        var back = k < 0 ? "rgba(150,150,150,0.5)" : field(k, "error") !== undefined ? "rgba(255,127,14,0.6)" : "rgba(44,160,44,0.45)";
        if (w[2] >= 0 && w[2] !== LANE[s]) {
          var ly = laneY(w[2]), xm = (x0 + x1) / 2;
          ctx.strokeStyle = "rgba(31,119,180,0.35)";
          ctx.beginPath(); ctx.moveTo(x0, py); ctx.lineTo(xm, ly); ctx.stroke();
          if (k >= 0) { ctx.strokeStyle = back; ctx.beginPath(); ctx.moveTo(xm, ly); ctx.lineTo(x1, py); ctx.stroke(); }
        } else {
          ctx.strokeStyle = back; ctx.lineWidth = 3;
          ctx.beginPath(); ctx.moveTo(x0, py - 7); ctx.lineTo(Math.max(x1, x0 + 1), py - 7); ctx.stroke();
          ctx.lineWidth = 1;
        }
      });
    }
    // Events, only those on screen.
    var from = lowerBound(order, a), to = lowerBound(order, b + 1e-9), drawn = 0;
    var many = to - from > 20000, few = to - from < 200;
    var lastLabelEnd = new Float64Array(L).fill(-1e9);
    ctx.textAlign = "left"; ctx.textBaseline = "middle"; ctx.font = "10px monospace";
    for (var j = from; j < to; j++) {
      var e = order[j], ev = D.ev[e], ex = x(T[e]), ey = laneY(LANE[e]);
      var on = matches(e);
      ctx.globalAlpha = on ? 1 : 0.12;
      if (ev[3] === "fault") {
        ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2;
        ctx.beginPath(); ctx.moveTo(ex, AXIS_H); ctx.lineTo(ex, AXIS_H + LANE_H * L); ctx.stroke();
        ctx.lineWidth = 1;
      }
      ctx.fillStyle = D.palette[ev[2]];
      if (many) ctx.fillRect(ex - 1, ey - 3, 2, 6);
      else {
        var r = ev[3] === "hw" || ev[3] === "snapshot" ? 2.5 : ev[3] === "fault" || ev[3] === "verdict" ? 5 : 3.5;
        ctx.beginPath(); ctx.arc(ex, ey, r, 0, 2 * Math.PI); ctx.fill();
      }
      // Labels when there is room: every event when few are on screen, faults always.
      if ((few || ev[3] === "fault") && on && ex + 6 > lastLabelEnd[LANE[e]]) {
        var label = ev[4].length > 48 ? ev[4].slice(0, 47) + "…" : ev[4];
        ctx.fillStyle = ev[3] === "fault" ? "#b71c1c" : "#555"; ctx.fillText(label, ex + 6, ey - 8);
        lastLabelEnd[LANE[e]] = ex + 6 + ctx.measureText(label).width + 8;
      }
      drawn++;
    }
    ctx.globalAlpha = 1;
    // Marked evidence, then the selection, findable at any zoom.
    function ring(e, colour, r) {
      var ex = x(T[e]), ey = laneY(LANE[e]);
      ctx.strokeStyle = colour; ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(ex, AXIS_H); ctx.lineTo(ex, AXIS_H + LANE_H * L); ctx.stroke();
      ctx.setLineDash([]); ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(ex, ey, r, 0, 2 * Math.PI); ctx.stroke();
      ctx.lineWidth = 1;
    }
    marked.forEach(function (e) { if (T[e] >= a && T[e] <= b) ring(e, "#c2185b", 8); });
    if (selected >= 0 && T[selected] >= a && T[selected] <= b) ring(selected, "#000", 7);
    status.dataset.drawn = String(drawn);
  }

  // --- selection ---------------------------------------------------------------------------
  function setHash(h) { try { history.replaceState(null, "", "#" + h); } catch (err) { /* file: URLs in some browsers */ } }
  function show(e, zoomIn) {
    var t = T[e], span = tMax - tMin;
    if (zoomIn) fitTo(t - span / 40, t + span / 40);
    else if (x(t) < 0 || x(t) > W) view.t0 = t - W / 2 / view.scale;
  }
  function evLink(e) {
    var a = el("a", { class: "evlink", "data-event": String(e), href: "#event=" + e },
      "#" + e + " " + fmtTime(T[e]) + " " + (D.lanes[LANE[e]] ? D.lanes[LANE[e]].name : "") + "  " + D.ev[e][4]);
    a.addEventListener("click", function (ev) {
      ev.preventDefault(); select(e, false);
      if (diagram.scrollIntoView) diagram.scrollIntoView({ block: "nearest" });
    });
    return a;
  }
  function fieldValue(v) {
    if (v !== null && typeof v === "object") return el("pre", null, JSON.stringify(v, null, 1));
    return document.createTextNode(typeof v === "string" ? v : JSON.stringify(v));
  }
  function select(e, zoomIn) {
    if (!(e >= 0 && e < N)) return;
    selected = e;
    status.dataset.selected = String(e);
    setHash("event=" + e);
    show(e, zoomIn);
    details.textContent = "";
    details.appendChild(el("h3", { class: "title" }, "event #" + e + " · " + fmtTime(T[e]) + " · " + (D.lanes[LANE[e]] ? D.lanes[LANE[e]].name : "")));
    details.appendChild(el("div", { class: "what", id: "what" }, D.ev[e][4]));
    var table = details.appendChild(el("table", { id: "fields" }));
    var rawEv = fieldsOf(e);
    Object.keys(rawEv).forEach(function (k) {
      var tr = table.appendChild(el("tr", { "data-field": k }));
      tr.appendChild(el("td", null, k));
      tr.appendChild(el("td")).appendChild(fieldValue(rawEv[k]));
    });
    // The same write elsewhere: its send, acks, retries, reads.
    if (typeof rawEv.send === "string") {
      var rel = [];
      for (var i = 0; i < N && rel.length < 50; i++) {
        if (i === e) continue;
        var recs = field(i, "records");
        if (field(i, "send") === rawEv.send || field(i, "first") === rawEv.send ||
            (D.ev[i][3] === "poll" && recs && recs.some(function (x) { return x.send === rawEv.send; }))) rel.push(i);
      }
      if (rel.length) {
        details.appendChild(el("h4", null, "Events about " + rawEv.send));
        rel.forEach(function (i) { details.appendChild(evLink(i)); });
      }
    }
    var citing = [];
    D.verdicts.forEach(function (v) { v.violations.forEach(function (vi, j) { if (vi.events.indexOf(e) >= 0) citing.push([v, j]); }); });
    if (citing.length) {
      details.appendChild(el("h4", null, "Evidence for"));
      citing.forEach(function (c) {
        var a = details.appendChild(el("a", { class: "violation", href: "#violation=" + c[0].checker + "/" + c[1] }, c[0].checker + ": " + c[0].violations[c[1]].text));
        a.addEventListener("click", function (ev) { ev.preventDefault(); selectViolation(c[0], c[1]); });
      });
    }
    draw();
  }
  function mark(events, label, hash, node) {
    marked = events.slice(); markedSet = {};
    marked.forEach(function (e) { markedSet[e] = 1; });
    status.dataset.marked = marked.join(",");
    if (activeEl) activeEl.classList.remove("active");
    activeEl = node; if (node) node.classList.add("active");
    setHash(hash);
    if (marked.length) {
      var a = Infinity, b = -Infinity;
      marked.forEach(function (e) { a = Math.min(a, T[e]); b = Math.max(b, T[e]); });
      var pad = Math.max((b - a) * 0.1, (tMax - tMin) / 100);
      fitTo(a - pad, b + pad);
    }
    details.textContent = "";
    details.appendChild(el("h3", { class: "title" }, label));
    if (!marked.length) details.appendChild(el("p", { class: "note" }, "No events recorded as evidence."));
    marked.forEach(function (e) { details.appendChild(evLink(e)); });
    selected = -1;
    draw();
    // The verdict list is below the diagram: bring the marked events into view.
    if (diagram.scrollIntoView) diagram.scrollIntoView({ block: "nearest" });
  }
  function selectViolation(v, j) {
    var vi = v.violations[j];
    mark(vi.events, v.checker + ": " + vi.text, "violation=" + v.checker + "/" + j, vNodes[v.checker + "/" + j]);
  }
  function selectVerdict(v) {
    var all = [];
    v.violations.forEach(function (vi) { vi.events.forEach(function (e) { if (all.indexOf(e) < 0) all.push(e); }); });
    all.sort(function (p, q) { return p - q; });
    if (!all.length) { select(v.event, false); return; }
    mark(all, (v.ok ? "✔ " : "✘ ") + v.checker + (v.details ? ": " + v.details : ""), "verdict=" + v.checker, vNodes[v.checker]);
  }

  // --- verdict list ------------------------------------------------------------------------
  var vNodes = {}, failed = 0;
  // Failing verdicts first: they are what the reader came for.
  D.verdicts.filter(function (v) { return !v.ok; }).concat(D.verdicts.filter(function (v) { return v.ok; })).forEach(function (v) {
    if (!v.ok) failed++;
    var li = vList.appendChild(el("li", { class: "verdict " + (v.ok ? "ok" : "failed"), "data-checker": v.checker, "data-event": String(v.event) }));
    var lab = li.appendChild(el("span", { class: "label" }, v.ok ? "✔ " + v.checker + " ok" : "✘ " + v.checker + (v.details ? ": " + v.details : "")));
    vNodes[v.checker] = li;
    lab.addEventListener("click", function () { selectVerdict(v); });
    if (v.violations.length) {
      var ul = li.appendChild(el("ul"));
      if (v.rederived) ul.appendChild(el("li", { class: "note" }, "found again by this kafka-sim's checkers; they differ from what the trace recorded"));
      v.violations.forEach(function (vi, j) {
        var item = ul.appendChild(el("li", { class: "violation", "data-events": vi.events.join(",") }, vi.text + " (" + vi.events.length + " event" + (vi.events.length === 1 ? "" : "s") + ")"));
        vNodes[v.checker + "/" + j] = item;
        item.addEventListener("click", function () { selectViolation(v, j); });
      });
    }
  });
  vSummary.textContent = !D.verdicts.length ? "No verdicts in this trace." :
    failed ? "✘ " + failed + " of " + D.verdicts.length + " checkers failed; click one to see the events that broke it."
           : "✔ all " + D.verdicts.length + " checkers ok";

  // --- input -------------------------------------------------------------------------------
  function hit(px, py) {
    var l = Math.floor((py - AXIS_H) / LANE_H);
    if (l < 0 || l >= L) return -1;
    var arr = perLane[l], j = lowerBound(arr, tAt(px - 6)), best = -1, bd = 7;
    for (; j < arr.length && T[arr[j]] <= tAt(px + 6); j++) {
      var d = Math.abs(x(T[arr[j]]) - px);
      if (d < bd) { bd = d; best = arr[j]; }
    }
    return best;
  }
  function pos(ev) { var r = canvas.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; }
  var drag = null;
  canvas.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, t0: view.t0, moved: false }; });
  window.addEventListener("mousemove", function (ev) {
    if (drag) {
      if (Math.abs(ev.clientX - drag.x) > 3) { drag.moved = true; canvas.classList.add("dragging"); }
      if (drag.moved) { view.t0 = drag.t0 - (ev.clientX - drag.x) / view.scale; draw(); }
      return;
    }
    if (ev.target !== canvas) { hover.style.display = "none"; return; }
    var p = pos(ev), e = hit(p[0], p[1]);
    if (e < 0) { hover.style.display = "none"; canvas.title = ""; return; }
    hover.textContent = fmtTime(T[e]) + " " + D.lanes[LANE[e]].name + "  " + D.ev[e][4];
    hover.style.display = "block";
    hover.style.left = Math.min(p[0] + 12, Math.max(W - hover.offsetWidth, 0)) + "px";
    hover.style.top = (p[1] + 14) + "px";
  });
  window.addEventListener("mouseup", function (ev) {
    if (!drag) return;
    var moved = drag.moved;
    drag = null; canvas.classList.remove("dragging");
    if (!moved && ev.target === canvas) { var p = pos(ev), e = hit(p[0], p[1]); if (e >= 0) select(e, false); }
  });
  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
      view.t0 += (ev.deltaX || ev.deltaY) / view.scale; draw();
    } else zoom(Math.exp(-ev.deltaY * 0.0015), pos(ev)[0]);
  }, { passive: false });
  function step(dir) {
    if (selected < 0) return;
    var arr = perLane[LANE[selected]], j = arr.indexOf(selected) + dir;
    if (j >= 0 && j < arr.length) select(arr[j], false);
  }
  btn.fit.addEventListener("click", function () { fitTo(tMin, tMax); draw(); });
  btn["in"].addEventListener("click", function () { zoom(2, W / 2); });
  btn.out.addEventListener("click", function () { zoom(0.5, W / 2); });
  btn.prev.addEventListener("click", function () { step(-1); });
  btn.next.addEventListener("click", function () { step(1); });
  showWrites.addEventListener("change", draw);
  search.addEventListener("input", function () {
    var q = search.value;
    filter = null;
    if (q) {
      try {
        var m = /^\/(.*)\/$/.exec(q);
        filter = m ? new RegExp(m[1], "i") : new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
      } catch (err) { filter = null; }
    }
    draw();
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.target === search) return;
    if (ev.key === "+" || ev.key === "=") zoom(2, W / 2);
    else if (ev.key === "-") zoom(0.5, W / 2);
    else if (ev.key === "0") { fitTo(tMin, tMax); draw(); }
    else if (ev.key === "ArrowLeft") step(-1);
    else if (ev.key === "ArrowRight") step(1);
    else return;
    ev.preventDefault();
  });
  window.addEventListener("resize", resize);

  // --- start -------------------------------------------------------------------------------
  function fromHash() {
    var h = decodeURIComponent(location.hash.slice(1)), m;
    if ((m = /^event=(\d+)$/.exec(h))) select(Number(m[1]), true);
    else if ((m = /^verdict=(.+)$/.exec(h))) {
      D.verdicts.forEach(function (v) { if (v.checker === m[1]) selectVerdict(v); });
    } else if ((m = /^violation=(.+)\/(\d+)$/.exec(h))) {
      D.verdicts.forEach(function (v) { if (v.checker === m[1] && v.violations[Number(m[2])]) selectViolation(v, Number(m[2])); });
    }
  }
  window.addEventListener("hashchange", fromHash);
  try {
    resize();
    fromHash();
    status.dataset.events = String(N);
    status.dataset.lanes = String(L);
    status.dataset.verdicts = String(D.verdicts.length);
    status.dataset.failed = String(failed);
    status.dataset.ready = "1";
  } catch (err) {
    fail(err && err.stack ? err.stack : err);
  }
})();
