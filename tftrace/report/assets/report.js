/* tftrace HTML report: draws the error-growth charts (uPlot), the heatmap (canvas) and the
 * table of pairs from the page data (tftrace/report/html_data.py). Every string from a trace
 * reaches the page through textContent or canvas fillText, never as markup, and invisible
 * characters are shown as escapes (shown()). window.tftraceReport tells tests what was drawn. */
(function () {
  "use strict";
  var report = window.tftraceReport = { errors: [], charts: [], heatmap: null, table: null, ready: false };
  window.addEventListener("error", function (e) { report.errors.push(String(e.message)); });

  var data, S, P = {}, D = {}, V = {}, table;
  var PAGE_ROWS = 100;

  // The page data is gzip-compressed JSON in base64 (a third of the size of plain JSON);
  // DecompressionStream unpacks it in the page, no request involved.
  function load() {
    var text = atob(document.getElementById("report-data").textContent.trim());
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }
  function start(loaded) {
    data = loaded;
    S = data.strings;
    data.pair_columns.forEach(function (c, i) { P[c] = i; });
    data.detail_columns.forEach(function (c, i) { D[c] = i; });
    data.value_fields.forEach(function (c, i) { V[c] = i; });
    growth();
    heatmap();
    table = pairsTable();
    firstLink();
    report.ready = true;
  }
  function failed(error) {
    report.errors.push(String(error));
    var note = el("p", { class: "finding", id: "load-error" }, "The charts, heatmap and table could not be drawn: "
      + String(error) + ". This browser needs DecompressionStream (Chromium 80, Firefox 113, Safari 16.4 or later).");
    document.getElementById("growth-charts").appendChild(note);
    report.ready = true;
  }

  // -- text -------------------------------------------------------------------------
  var INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/gu;
  function hex(n, w) { var s = n.toString(16); while (s.length < w) s = "0" + s; return s; }
  function shown(text) {
    if (text === null || text === undefined) return "-";
    return String(text).replace(INVISIBLE, function (c) {
      var code = c.codePointAt(0);
      return code < 0x100 ? "\\x" + hex(code, 2) : code < 0x10000 ? "\\u" + hex(code, 4) : "\\U" + hex(code, 8);
    });
  }
  function str(i) { return i === undefined || i < 0 ? null : S[i]; }
  // %.9g, as the text report prints numbers
  function g(x, p) {
    if (x === null || x === undefined) return "-";
    if (typeof x === "string") return x;
    if (Array.isArray(x)) return "(" + g(x[0], p) + (String(g(x[1], p)).charAt(0) === "-" ? "" : "+") + g(x[1], p) + "j)";
    if (typeof x === "boolean") return x ? "True" : "False";
    p = p || 9;
    if (x === 0) return "0";
    var exp = parseInt(x.toExponential(p - 1).split("e")[1], 10);
    if (exp < -4 || exp >= p) {
      var parts = x.toExponential(p - 1).split("e");
      var mant = parts[0].indexOf(".") >= 0 ? parts[0].replace(/\.?0+$/, "") : parts[0];
      return mant + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
    }
    var s = x.toPrecision(p);
    return s.indexOf(".") >= 0 ? s.replace(/\.?0+$/, "") : s;
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "class") node.className = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    (children === undefined ? [] : [].concat(children)).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
    return node;
  }
  function code(text) { return el("code", null, shown(text)); }
  function kindLabel(k) { return data.kind_labels[data.kinds[k]] || data.kinds[k]; }
  function statusName(s) { return data.statuses[s]; }
  function isDiverged(s) { var n = statusName(s); return n !== "equal" && n !== "close" && n !== "skipped"; }
  function statusTag(s) {
    var name = statusName(s);
    var known = ["equal", "close", "diverged", "missing", "extra", "skipped"].indexOf(name) >= 0;
    return el("span", { class: "st st-" + (known ? name : "other") }, name);
  }
  function positive(x) { return typeof x === "number" && x > 0 ? x : null; }
  // tick labels: uPlot leaves minor ticks of a log axis unlabelled (null)
  function ticks(u, vals) { return vals.map(function (v) { return v === null || v === undefined ? "" : g(v, 3); }); }
  var STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

  // -- error growth -----------------------------------------------------------------
  function growth() {
    var box = document.getElementById("growth-charts");
    if (!data.series.length) {
      box.appendChild(el("p", { class: "note" }, "No errors to draw: every compared pair is equal."));
      return;
    }
    var tol = data.tolerance;
    data.series.forEach(function (s) {
      var kind = data.kinds.indexOf(s.kind);
      var wrap = el("div", { class: "chart", "data-kind": s.kind });
      wrap.appendChild(el("h3", null, shown(kindLabel(kind)) + ": largest error per step"));
      box.appendChild(wrap);
      var xs = s.steps;
      var atol = xs.map(function () { return positive(tol.atol); });
      var rtol = xs.map(function () { return positive(tol.rtol); });
      var width = Math.max(360, Math.min(box.clientWidth || 880, 880));
      var opts = {
        width: width, height: 260,
        scales: { x: { time: false, range: function (u, lo, hi) { return lo === hi ? [lo - 1, hi + 1] : [lo, hi]; } },
                  y: { distr: 3, log: 10 } },
        series: [
          { label: "step", value: function (u, v) { return v === null ? "-" : String(v); } },
          { label: "max |a − b|", stroke: "#b3261e", width: 2, points: { show: true, size: 6 }, value: function (u, v) { return g(v, 4); } },
          { label: "max |a − b| / |a|", stroke: "#1a57a8", width: 2, points: { show: true, size: 6 }, value: function (u, v) { return g(v, 4); } },
          { label: "atol", stroke: "#b3261e", dash: [6, 4], width: 1, points: { show: false }, value: function (u, v) { return g(v, 4); } },
          { label: "rtol", stroke: "#1a57a8", dash: [6, 4], width: 1, points: { show: false }, value: function (u, v) { return g(v, 4); } }
        ],
        axes: [{ label: "step", incrs: STEP_INCRS },
               { label: "error (log scale)", size: 70, values: ticks }]
      };
      var u = new uPlot(opts, [xs, s.max_abs.map(positive), s.max_rel.map(positive), atol, rtol], wrap);
      var notes = ["Each point is the largest error over this kind's pairs at that step. "
        + "Dashed lines: the default tolerance (atol for absolute errors, rtol for relative ones); "
        + "a pair diverges when |a − b| > atol + rtol·|a| at some element, so an error can cross one line and still be close. "
        + "Steps where every pair is equal have no point (0 is not on a log axis)."];
      var infinite = [];
      s.rel_infinite.forEach(function (n, i) { if (n) infinite.push("step " + xs[i] + " (" + n + ")"); });
      if (infinite.length) notes.push("Relative error infinite (A is 0 where B is not), not drawn, at " + infinite.join(", ") + ".");
      var diverged = [];
      s.diverged.forEach(function (n, i) { if (n) diverged.push(xs[i] + ": " + n); });
      notes.push(diverged.length ? "Diverged pairs per step: " + diverged.join(", ") + "." : "No pair of this kind diverged.");
      if (tol.overrides) notes.push(tol.overrides + " per-name tolerance rule(s) also apply (see Summary and tolerances).");
      wrap.appendChild(el("p", { class: "caption" }, notes.join(" ")));
      report.charts.push({ kind: s.kind, series: u.series.length - 1, width: u.width, canvas: u.ctx.canvas });
    });
  }

  // -- where it starts: the heatmap ---------------------------------------------------
  var LOG_LO = -12, LOG_HI = 2;
  function mix(c1, c2, t) {
    t = Math.max(0, Math.min(1, t));
    var a = [1, 3, 5].map(function (i) { return parseInt(c1.substr(i, 2), 16); });
    var b = [1, 3, 5].map(function (i) { return parseInt(c2.substr(i, 2), 16); });
    return "rgb(" + a.map(function (v, i) { return Math.round(v + (b[i] - v) * t); }).join(",") + ")";
  }
  function logT(rel, lo, hi) { return (Math.log10(rel) - lo) / (hi - lo); }
  function cellColour(status, rel) {
    var name = statusName(status);
    if (name === "equal") return "#cfe8cf";
    if (name === "skipped") return "#c4c4c4";
    if (name === "missing" || name === "extra") return "#7b3fa0";
    var rtolLog = data.tolerance.rtol > 0 ? Math.log10(data.tolerance.rtol) : -6;
    if (name === "close") return typeof rel === "number" && rel > 0 ? mix("#fff6c4", "#e69a1c", logT(rel, LOG_LO, rtolLog + 1)) : "#fff0a8";
    if (rel === "inf") return "#3a0000";
    if (typeof rel !== "number") return "#7b3fa0";  // structure, statistics: no relative error
    return rel > 0 ? mix("#f4a09a", "#7a0000", logT(rel, rtolLog, LOG_HI)) : "#f4a09a";
  }
  function rowLabel(row) {
    var first = kindLabel(row[0]) + " " + shown(str(row[1]));
    return row[2] === 1 ? first : row[2] + " names: " + first + " … " + kindLabel(row[3]) + " " + shown(str(row[4]));
  }
  function heatmap() {
    var h = data.heatmap, canvas = document.getElementById("heatmap-canvas");
    var caption = document.getElementById("heatmap-caption");
    var text = h.names + " names (kind and name) in A's recording order (execution order) down, " + h.steps
      + " step" + (h.steps === 1 ? "" : "s") + " across. Each cell is the largest relative error |a − b| / |a| of its pairs, "
      + "coloured by their worst status. ";
    if (h.names_per_row > 1) text += "There are more names than rows: each row merges " + h.names_per_row + " consecutive names (" + h.rows.length + " rows). ";
    if (h.steps_per_column > 1) text += "There are more steps than columns: each column merges " + h.steps_per_column + " consecutive steps (" + h.columns.length + " columns). ";
    text += h.first ? "The black frame marks the first divergence. " : "";
    text += "Point at a cell for its names; click it to show its worst pair in the table.";
    caption.textContent = text;
    legend();
    if (!h.rows.length) { canvas.hidden = true; report.heatmap = { rows: 0, columns: 0, cells: 0, canvas: canvas }; return; }
    var box = document.getElementById("heatmap-box");
    var showLabels = h.rows.length <= 80;
    var ctx = canvas.getContext("2d");
    ctx.font = "11px ui-monospace, DejaVu Sans Mono, monospace";
    var labelW = 0;
    if (showLabels) h.rows.forEach(function (r) { labelW = Math.max(labelW, ctx.measureText(rowLabel(r)).width); });
    labelW = showLabels ? Math.min(Math.ceil(labelW) + 10, 380) : 8;
    var avail = Math.max(300, (box.clientWidth || 1100) - labelW - 10);
    var cw = Math.max(2, Math.min(40, Math.floor(avail / h.columns.length)));
    var ch = Math.max(1, Math.min(16, Math.floor(640 / h.rows.length)));
    var top = 22, W = labelW + cw * h.columns.length + 2, H = top + ch * h.rows.length + 2;
    var ratio = window.devicePixelRatio || 1;
    canvas.width = Math.ceil(W * ratio); canvas.height = Math.ceil(H * ratio);
    canvas.style.width = W + "px"; canvas.style.height = H + "px";
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#f3f3f3"; ctx.fillRect(labelW, top, cw * h.columns.length, ch * h.rows.length);
    ctx.font = "11px ui-monospace, DejaVu Sans Mono, monospace"; ctx.fillStyle = "#333"; ctx.textBaseline = "middle";
    var every = Math.max(1, Math.ceil(36 / cw));
    h.columns.forEach(function (c, i) { if (i % every === 0) ctx.fillText(String(c[0]), labelW + i * cw + 1, 10); });
    if (showLabels) ctx.fillText("name \\ step", 2, 10);
    if (showLabels) h.rows.forEach(function (r, i) {
      var label = rowLabel(r);
      while (label.length > 3 && ctx.measureText(label).width > labelW - 8) label = label.slice(0, -2);
      ctx.fillText(label, 2, top + i * ch + ch / 2);
    });
    h.cells.forEach(function (c) {
      ctx.fillStyle = cellColour(c[2], c[3]);
      ctx.fillRect(labelW + c[1] * cw, top + c[0] * ch, cw > 3 ? cw - 1 : cw, ch > 3 ? ch - 1 : ch);
    });
    if (h.first) {  // a white frame inside a black one: visible on the darkest red too
      var fx = labelW + h.first[1] * cw, fy = top + h.first[0] * ch, fh = Math.max(ch, 3);
      ctx.strokeStyle = "#000"; ctx.lineWidth = 3;
      ctx.strokeRect(fx - 1.5, fy - 1.5, cw + 2, fh + 2);
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 1;
      ctx.strokeRect(fx + 0.5, fy + 0.5, Math.max(cw - 2, 1), Math.max(fh - 2, 1));
      ctx.fillStyle = "#000"; ctx.beginPath();
      var y = top + h.first[0] * ch + ch / 2;
      ctx.moveTo(labelW - 1, y); ctx.lineTo(labelW - 7, y - 4); ctx.lineTo(labelW - 7, y + 4); ctx.fill();
    }
    var byCell = {};
    h.cells.forEach(function (c) { byCell[c[0] + "," + c[1]] = c; });
    var tip = document.getElementById("heatmap-tip");
    function cellAt(ev) {
      var rect = canvas.getBoundingClientRect();
      var col = Math.floor((ev.clientX - rect.left - labelW) / cw), row = Math.floor((ev.clientY - rect.top - top) / ch);
      return row >= 0 && col >= 0 && row < h.rows.length && col < h.columns.length ? [row, col] : null;
    }
    canvas.addEventListener("mousemove", function (ev) {
      var at = cellAt(ev);
      if (!at) { tip.hidden = true; return; }
      var c = byCell[at[0] + "," + at[1]], cols = h.columns[at[1]];
      var steps = cols[0] === cols[1] ? "step " + cols[0] : "steps " + cols[0] + "–" + cols[1];
      tip.textContent = rowLabel(h.rows[at[0]]) + ", " + steps + ": "
        + (c ? statusName(c[2]) + (c[3] !== null ? ", max relative error " + g(c[3], 4) : "") : "no pair");
      tip.hidden = false;
      var boxRect = box.getBoundingClientRect();
      tip.style.left = (ev.clientX - boxRect.left + box.scrollLeft + 12) + "px";
      tip.style.top = (ev.clientY - boxRect.top + 12) + "px";
    });
    canvas.addEventListener("mouseleave", function () { tip.hidden = true; });
    canvas.addEventListener("click", function (ev) {
      var at = cellAt(ev), c = at && byCell[at[0] + "," + at[1]];
      if (c) table.showPair(c[4], true);
    });
    report.heatmap = { rows: h.rows.length, columns: h.columns.length, cells: h.cells.length, canvas: canvas,
                       first: h.first, layout: { left: labelW, top: top, cell: [cw, ch], ratio: ratio } };
  }
  function legend() {
    var box = document.getElementById("heatmap-legend");
    [["#cfe8cf", "equal"], ["#fff6c4", "close, small error"], ["#e69a1c", "close, near rtol"],
     ["#f4a09a", "diverged, relative error near rtol"], ["#7a0000", "diverged, ≥ 100"], ["#3a0000", "diverged, ∞ (A is 0)"],
     ["#7b3fa0", "missing, extra or structure (no values compared)"], ["#c4c4c4", "skipped"], ["#f3f3f3", "no pair"]]
      .forEach(function (s) {
        var sw = el("span", { class: "sw" }); sw.style.background = s[0];
        box.appendChild(sw); box.appendChild(document.createTextNode(s[1]));
      });
  }

  // -- the table of pairs -------------------------------------------------------------
  function pairsTable() {
    var state = { query: "", kind: -1, status: "all", sortKey: null, sortDir: 1, page: 0, selected: -1 };
    var order = data.pairs.map(function (_, i) { return i; }), shownRows = order;
    var COLS = [["#", null], ["kind", P.kind], ["name", P.name], ["step", P.step], ["status", P.status],
                ["max abs error", P.max_abs], ["max rel error", P.max_rel], ["mismatched", P.mismatched],
                ["seq A", P.seq_a], ["seq B", P.seq_b]];
    var controls = document.getElementById("pairs-controls"), holder = document.getElementById("pairs-table");
    var search = el("input", { type: "search", placeholder: "search names", "aria-label": "search names", id: "pairs-search" });
    var kindSel = el("select", { id: "pairs-kind", "aria-label": "kind" }, [el("option", { value: "-1" }, "all kinds")]
      .concat(data.kinds.map(function (k, i) { return el("option", { value: String(i) }, shown(kindLabel(i))); })));
    var statusSel = el("select", { id: "pairs-status", "aria-label": "status" },
      [el("option", { value: "all" }, "all statuses"), el("option", { value: "notequal" }, "not equal")]
        .concat(data.statuses.map(function (s, i) { return el("option", { value: String(i) }, s); })));
    var count = el("span", { class: "caption", id: "pairs-count" });
    var prev = el("button", { type: "button" }, "◀"), next = el("button", { type: "button" }, "▶");
    [search, kindSel, statusSel, prev, next, count].forEach(function (n) { controls.appendChild(n); });
    search.addEventListener("input", function () { state.query = search.value.toLowerCase(); state.page = 0; update(); });
    kindSel.addEventListener("change", function () { state.kind = parseInt(kindSel.value, 10); state.page = 0; update(); });
    statusSel.addEventListener("change", function () { state.status = statusSel.value; state.page = 0; update(); });
    prev.addEventListener("click", function () { if (state.page > 0) { state.page--; render(); } });
    next.addEventListener("click", function () { if ((state.page + 1) * PAGE_ROWS < shownRows.length) { state.page++; render(); } });

    function sortValue(i, col) {
      var v = data.pairs[i][col];
      if (col === P.name) return (str(v) || "").toLowerCase();
      if (col === P.kind) return kindLabel(v);
      if (col === P.status) return statusName(v);
      if (v === "inf") return Infinity;
      if (v === "nan") return -Infinity;
      return v === null || v === -1 && (col === P.seq_a || col === P.seq_b || col === P.mismatched) ? -Infinity : v;
    }
    function matches(i) {
      var row = data.pairs[i];
      if (state.kind >= 0 && row[P.kind] !== state.kind) return false;
      if (state.status === "notequal" && statusName(row[P.status]) === "equal") return false;
      if (state.status !== "all" && state.status !== "notequal" && row[P.status] !== parseInt(state.status, 10)) return false;
      if (!state.query) return true;
      var names = shown(str(row[P.name])) + " " + (row[P.name_b] >= 0 ? shown(str(row[P.name_b])) : "");
      return names.toLowerCase().indexOf(state.query) >= 0;
    }
    function update() {
      shownRows = order.filter(matches);
      if (state.sortKey !== null) {
        var col = state.sortKey, dir = state.sortDir;
        shownRows.sort(function (x, y) {
          var a = sortValue(x, col), b = sortValue(y, col);
          return a < b ? -dir : a > b ? dir : x - y;
        });
      }
      render();
    }
    function render() {
      var start = state.page * PAGE_ROWS, rows = shownRows.slice(start, start + PAGE_ROWS);
      count.textContent = shownRows.length ? "pairs " + (start + 1) + "–" + (start + rows.length) + " of " + shownRows.length
        + (shownRows.length !== data.pairs.length ? " (filtered from " + data.pairs.length + ")" : "") + ", " + PAGE_ROWS + " per page"
        : "no pair matches";
      var t = el("table"), head = el("tr");
      COLS.forEach(function (c) {
        var th = el("th", null, c[0] + (state.sortKey === c[1] && c[1] !== null ? (state.sortDir > 0 ? " ▲" : " ▼") : ""));
        th.addEventListener("click", function () {
          if (state.sortKey === c[1]) state.sortDir = -state.sortDir; else { state.sortKey = c[1]; state.sortDir = c[1] === P.max_abs || c[1] === P.max_rel ? -1 : 1; }
          update();
        });
        head.appendChild(th);
      });
      t.appendChild(head);
      rows.forEach(function (i) {
        var r = data.pairs[i];
        var name = [shown(str(r[P.name]))];
        if (r[P.name_b] >= 0) name.push(el("span", { class: "caption" }, " (B: " + shown(str(r[P.name_b])) + ")"));
        var tr = el("tr", { class: "row" + (i === data.first ? " first" : "") + (i === state.selected ? " selected" : ""), "data-index": String(i) }, [
          el("td", { class: "num" }, String(i)), el("td", null, shown(kindLabel(r[P.kind]))), el("td", { class: "name" }, name),
          el("td", { class: "num" }, String(r[P.step]) + (r[P.occurrence] ? " #" + r[P.occurrence] : "")),
          el("td", null, statusTag(r[P.status])), el("td", { class: "num" }, g(r[P.max_abs], 4)),
          el("td", { class: "num" }, g(r[P.max_rel], 4)),
          el("td", { class: "num" }, r[P.size] >= 0 ? r[P.mismatched] + " / " + r[P.size] : "-"),
          el("td", { class: "num" }, r[P.seq_a] >= 0 ? String(r[P.seq_a]) : "-"),
          el("td", { class: "num" }, r[P.seq_b] >= 0 ? String(r[P.seq_b]) : "-")]);
        tr.addEventListener("click", function () { showPair(i, false); });
        t.appendChild(tr);
      });
      holder.textContent = "";
      holder.appendChild(t);
      report.table = { shown: shownRows.length, total: data.pairs.length, page: state.page, rowsOnPage: rows.length };
    }
    function showPair(i, reveal) {
      state.selected = i;
      var at = shownRows.indexOf(i);
      if (at < 0) { search.value = ""; state.query = ""; state.kind = -1; kindSel.value = "-1"; state.status = "all"; statusSel.value = "all"; update(); at = shownRows.indexOf(i); }
      state.page = Math.floor(at / PAGE_ROWS);
      render();
      detail(i);
      // the details are under the page of rows: bring them into view
      document.getElementById("pair-detail").scrollIntoView({ block: reveal ? "start" : "nearest" });
    }
    update();
    return { showPair: showPair };
  }

  // -- one pair in full -----------------------------------------------------------------
  function detail(i) {
    var box = document.getElementById("pair-detail"), r = data.pairs[i], d = data.details[r[P.detail]];
    box.hidden = false; box.textContent = "";
    var title = el("h3", null, [shown(kindLabel(r[P.kind])) + " ", code(str(r[P.name]))]);
    if (r[P.name_b] >= 0) title.appendChild(el("span", null, [" (B: ", code(str(r[P.name_b])), ")"]));
    title.appendChild(document.createTextNode(", step " + r[P.step] + (r[P.occurrence] ? ", occurrence " + r[P.occurrence] : "") + " "));
    title.appendChild(statusTag(r[P.status]));
    box.appendChild(title);
    var facts = [];
    function fact(k, v) { facts.push(el("tr", null, [el("th", null, k), el("td", null, v)])); }
    fact("sequence", "A " + (r[P.seq_a] >= 0 ? "#" + r[P.seq_a] : "-") + ", B " + (r[P.seq_b] >= 0 ? "#" + r[P.seq_b] : "-"));
    if (d[D.random_index_a] !== null || d[D.random_index_b] !== null)
      fact("random op", "A " + (d[D.random_index_a] === null ? "-" : "#" + d[D.random_index_a] + " " + shown(str(d[D.op_type_a])))
        + ", B " + (d[D.random_index_b] === null ? "-" : "#" + d[D.random_index_b] + " " + shown(str(d[D.op_type_b]))));
    fact("shape and dtype", "A " + shown(str(d[D.shape_a])) + " " + shown(str(d[D.dtype_a])) + ", B " + shown(str(d[D.shape_b])) + " " + shown(str(d[D.dtype_b])));
    if (d[D.message] >= 0) fact("found", shown(str(d[D.message])));
    if (d[D.compared_by] >= 0) fact("compared by", shown(str(d[D.compared_by])));
    if (d[D.tolerance]) fact("tolerance", "rtol " + g(d[D.tolerance][0]) + ", atol " + g(d[D.tolerance][1]));
    var v = d[D.values], dtype = str(d[D.dtype_a]);
    function val(x) { return dtype === "string" && typeof x === "string" ? JSON.stringify(shown(x)) : g(x); }
    // elements are [index, a, b, error]; values are data.value_fields in order
    function at(e) { return e ? g(e[3]) + " at [" + e[0].join(", ") + "] (A " + val(e[1]) + ", B " + val(e[2]) + ")" : "-"; }
    if (v) {
      var size = v[V.size], bad = v[V.mismatched];
      fact("mismatched elements", bad + " / " + size + " (" + g(size ? 100 * bad / size : 0, 3) + "%)");
      if (v[V.nan_mismatched] || v[V.inf_mismatched]) fact("NaN / Inf", "NaN at different positions: " + v[V.nan_mismatched] + "; Inf not matched: " + v[V.inf_mismatched]);
      fact("max absolute difference", at(v[V.max_abs_error]));
      fact("max relative difference", at(v[V.max_rel_error]));
      if (v[V.mismatches].length) fact("first mismatched elements", v[V.mismatches].map(function (m) { return "[" + m[0].join(", ") + "]: A " + val(m[1]) + ", B " + val(m[2]); }).join("; "));
      if (v[V.max_ulp] !== null) fact("max ULP distance", String(v[V.max_ulp]));
    } else if (r[P.size] >= 0) {
      fact("values", "every element equal (" + r[P.size] + " elements)");
    }
    fact("call site A", code(str(d[D.call_site_a]))); fact("call site B", code(str(d[D.call_site_b])));
    box.appendChild(el("table", { class: "facts" }, facts));
    var stats = data.stats[String(i)];
    if (stats) {
      var names = ["min", "max", "mean", "NaN", "Inf"], rows = [el("tr", null, [el("th", null, "statistics"), el("th", null, "A"), el("th", null, "B")])];
      names.forEach(function (n, k) {
        var b = stats[1] === "same" ? stats[0] : stats[1];
        rows.push(el("tr", null, [el("th", null, n), el("td", { class: "num" }, stats[0] ? g(stats[0][k]) : "-"), el("td", { class: "num" }, b ? g(b[k]) : "-")]));
      });
      box.appendChild(el("table", { class: "facts" }, rows));
    }
    histograms(box, i, r, d);
    nameGrowth(box, i, r);
  }
  function histograms(box, i, r, d) {
    var h = data.histograms[String(i)], lim = data.histogram_limits;
    if (!h) {
      var why = !lim.traces_read[0] || !lim.traces_read[1] ? "trace " + (lim.traces_read[0] ? "B" : "A") + " could not be read when the report was made (see Environments)"
        : r[P.size] > lim.elements ? "the array has more than " + lim.elements + " elements"
        : r[P.seq_a] < 0 || r[P.seq_b] < 0 ? "the pair has one side only"
        : lim.left_out ? "histograms were made for " + lim.pairs + " pairs at most (diverged and close ones first); " + lim.left_out + " were left out"
        : "the values were not stored (statistics capture), or are strings or complex";
      box.appendChild(el("p", { class: "note" }, "No histogram: " + why + "."));
      return;
    }
    var wrap = el("div", { class: "hists" });
    box.appendChild(el("h3", null, "Histograms (finite elements" + (h.nonfinite[0] || h.nonfinite[1] ? "; non-finite: A " + h.nonfinite[0] + ", B " + h.nonfinite[1] : "") + ")"));
    box.appendChild(wrap);
    [["A", h.a, "#1a57a8"], ["B", h.b, "#b3261e"], ["B − A", h.diff, "#444444"]].forEach(function (spec) {
      var cell = el("div"); wrap.appendChild(cell);
      if (!spec[1]) { cell.appendChild(el("p", { class: "note" }, spec[0] + ": no finite element")); return; }
      var lo = spec[1][0], hi = spec[1][1], counts = spec[1][2], w = (hi - lo) / counts.length;
      var xs = counts.map(function (_, k) { return lo + (k + 0.5) * w; });
      var u = new uPlot({
        title: spec[0], width: 300, height: 170, legend: { show: false },
        scales: { x: { time: false, range: [lo, hi] }, y: { range: function (u, a, b) { return [0, Math.max(1, b)]; } } },
        axes: [{ values: ticks }, { size: 40 }],
        series: [{}, { label: "count", fill: spec[2] + "99", stroke: spec[2], paths: uPlot.paths.bars({ size: [1, Infinity], gap: 1 }), points: { show: false } }]
      }, [xs, counts], cell);
      report.histograms = (report.histograms || 0) + 1;
      void u;
    });
  }
  function nameGrowth(box, i, r) {
    var same = [];
    data.pairs.forEach(function (p, k) { if (p[P.kind] === r[P.kind] && p[P.name] === r[P.name] && p[P.occurrence] === r[P.occurrence]) same.push(k); });
    if (same.length < 2) return;
    var xs = same.map(function (k) { return data.pairs[k][P.step]; });
    box.appendChild(el("h3", null, "This name over the steps"));
    var cell = el("div", { id: "name-growth" }); box.appendChild(cell);
    new uPlot({
      width: 620, height: 200, scales: { x: { time: false, range: function (u, lo, hi) { return lo === hi ? [lo - 1, hi + 1] : [lo, hi]; } }, y: { distr: 3, log: 10 } },
      axes: [{ label: "step", incrs: STEP_INCRS }, { size: 70, values: ticks }],
      series: [{ label: "step" },
        { label: "max |a − b|", stroke: "#b3261e", width: 2, points: { show: true }, value: function (u, v) { return g(v, 4); } },
        { label: "max |a − b| / |a|", stroke: "#1a57a8", width: 2, points: { show: true }, value: function (u, v) { return g(v, 4); } }]
    }, [xs, same.map(function (k) { return positive(data.pairs[k][P.max_abs]); }),
        same.map(function (k) { return positive(data.pairs[k][P.max_rel]); })], cell);
    var infinite = same.filter(function (k) { return data.pairs[k][P.max_rel] === "inf"; })
      .map(function (k) { return data.pairs[k][P.step]; });
    box.appendChild(el("p", { class: "caption" }, "Steps with no error (equal) have no point. "
      + (infinite.length ? "Relative error infinite (A is 0 where B is not), not drawn, at step " + infinite.join(", ") + "." : "")));
  }

  function firstLink() {
    if (data.first < 0) return;
    var section = document.getElementById("first");
    var link = el("a", { href: "#pairs", id: "first-in-table" }, "Show this pair in the table (statistics, histograms)");
    link.addEventListener("click", function (ev) { ev.preventDefault(); table.showPair(data.first, true); });
    var title = section.querySelector(".first-title");
    if (title) title.parentNode.insertBefore(el("p", null, link), title.nextSibling);
  }

  if (typeof DecompressionStream === "undefined") failed("DecompressionStream is missing");
  else load().then(start).catch(failed);
})();
