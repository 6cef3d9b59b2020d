/* Active Calls public site: the page's only script besides Leaflet and uPlot.
 * Reads site.json, units.geojson, calls.geojson, basemap.json and trends.json,
 * all relative to the page, so the same files work from the collector or any
 * web server or CDN. Polls the two snapshots every refresh_s; the browser's
 * cache revalidates them with their ETags (an unchanged snapshot costs a 304).
 */
(function () {
  "use strict";

  // In the order of FIXED below: neighbours in the list get colours far apart.
  var CATEGORY_COLOURS = ["#cc79a7", "#d55e00", "#0072b2", "#e7298a", "#666666", "#56b4e9", "#8a6d00",
    "#6a3d9a", "#009e73", "#33a02c", "#999999", "#b15928", "#a6761d", "#1f78b4"];
  var STATUS_WORDS = { open: "waiting", attending: "officers attending", closed: "closed recently" };
  var UNIT_WORDS = { available: "available", dispatched: "dispatched", enroute: "on the way", onscene: "at a call" };
  var DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  var PRIORITY_WORDS = { emergency: "Emergency", priority: "Priority", routine: "Routine" };

  var site = null;
  var places = [];
  var colours = {};
  var hidden = {};            // category -> true when filtered out
  var calls = null, units = null;
  var map = null, callLayer = null, unitLayer = null, markers = {}, fitted = false, svgRenderer = null;
  var trendsLoaded = false, trendsData = null;
  var timeFormat = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function words(category) { return category.replace(/_/g, " ").replace(/^./, function (c) { return c.toUpperCase(); }); }
  // The same colour for a kind of call on every visit: the built-in categories have their own, others a hash.
  var FIXED = ["anti_social_behaviour", "theft", "traffic", "violence", "suspicious", "public_order", "criminal_damage",
    "burglary", "alarm", "assistance", "other", "robbery"];
  function colourOf(category) {
    if (!colours[category]) {
      var i = FIXED.indexOf(category);
      if (i < 0) { i = 0; for (var k = 0; k < category.length; k++) i = (i * 31 + category.charCodeAt(k)) >>> 0; }
      colours[category] = CATEGORY_COLOURS[i % CATEGORY_COLOURS.length];
    }
    return colours[category];
  }
  function getJSON(url) {
    return fetch(url, { cache: "no-cache" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }
  function minutes(seconds) { return Math.round(seconds / 60); }
  function minutesText(seconds) {
    if (seconds < 60) return seconds + (seconds === 1 ? " second" : " seconds");   // shortened delays (a demo)
    var m = minutes(seconds);
    return m + (m === 1 ? " minute" : " minutes");
  }
  function clock(iso) { return timeFormat.format(new Date(iso)); }
  function ago(iso) {
    var m = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
    if (m < 60) return m + " min ago";
    var h = Math.floor(m / 60);
    return h + " h " + (m % 60) + " min ago";
  }
  function nearestPlace(lat, lon) {
    var best = null, bestD = Infinity, kx = Math.cos(lat * Math.PI / 180);
    for (var i = 0; i < places.length; i++) {
      var p = places[i], dx = (p[3] - lon) * kx, dy = p[2] - lat, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = p; }
    }
    return best ? best[0] : null;
  }

  /* ---- views (Now / Trends / Open data), by the URL's hash ---- */
  function showView() {
    var name = (location.hash || "#now").slice(1);
    if (!$(name) || !$(name).classList.contains("view")) name = "now";
    var views = document.querySelectorAll(".view");
    for (var i = 0; i < views.length; i++) views[i].hidden = views[i].id !== name;
    var links = document.querySelectorAll("[data-view]");
    for (var j = 0; j < links.length; j++) {
      if (links[j].getAttribute("data-view") === name) links[j].setAttribute("aria-current", "page");
      else links[j].removeAttribute("aria-current");
    }
    if (name === "now" && map) setTimeout(function () { map.invalidateSize(); }, 0);
    if (name === "trends") loadTrends();
  }

  /* ---- the statement of delay and rounding: from the feed itself ---- */
  function statement() {
    if (!calls) return;
    var parts = [];
    parts.push("Calls appear " + minutesText(calls.delay_s) + " after they are opened");
    if (units) parts.push("police cars and whether officers are at a call are shown as they were " + minutesText(units.delay_s) + " ago");
    var text = parts.join("; ") + ". Places are rounded to the centre of a " + calls.cell_m + " m square, never an address. " +
      "Calls as of " + clock(calls.as_of) + (units ? ", cars as of " + clock(units.as_of) : "") + ".";
    $("statement").textContent = text;
  }

  /* ---- filters ---- */
  function renderFilters(categories) {
    var list = $("filter-list");
    var present = {};
    var existing = list.querySelectorAll("input");
    for (var i = 0; i < existing.length; i++) present[existing[i].value] = true;
    categories.forEach(function (category) {
      if (present[category]) return;
      var id = "f-" + category;
      var label = el("label", { class: "chip", for: id });
      var box = el("input", { type: "checkbox", id: id, value: category });
      box.checked = !hidden[category];
      box.addEventListener("change", function () {
        hidden[category] = !box.checked;
        renderCalls();
        if (trendsData) renderCharts();
      });
      var swatch = el("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = colourOf(category);
      label.appendChild(box);
      label.appendChild(swatch);
      label.appendChild(document.createTextNode(words(category)));
      list.appendChild(label);
    });
    $("filters").hidden = list.children.length === 0;
  }

  /* ---- the map (its background: basemap.js) ---- */
  function setupMap() {
    map = L.map("map", { preferCanvas: true, zoomControl: true, attributionControl: true, keyboard: true });
    map.attributionControl.setPrefix(false);
    var renderer = L.canvas({ padding: 0.3 });
    svgRenderer = L.svg();
    if (site.tiles) {
      L.tileLayer(site.tiles.url, { attribution: site.tiles.attribution || "© OpenStreetMap contributors", maxZoom: 18 }).addTo(map);
    }
    map.setView([53.2352, -1.4264], 13);
    if (site.basemap && !site.tiles) {
      getJSON(site.basemap).then(function (layer) {
        places = window.ActiveCallsBasemap.draw(map, layer, renderer);
        if (layer.bounds && !fitted) map.fitBounds([[layer.bounds[0], layer.bounds[1]], [layer.bounds[2], layer.bounds[3]]]);
        renderCalls();
        if (callLayer) callLayer.bringToFront();
      }).catch(function () { /* the map still shows calls and cars */ });
    } else {
      map.attributionControl.addAttribution("© OpenStreetMap contributors");
    }
    unitLayer = L.layerGroup().addTo(map);
    callLayer = L.layerGroup().addTo(map);
  }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; });
  }

  /* ---- calls: list and map ---- */
  function callLine(p) {
    return words(p.category) + ", " + (PRIORITY_WORDS[p.priority] || p.priority).toLowerCase() + ", " + STATUS_WORDS[p.status];
  }
  function renderCalls() {
    if (!calls || !map) return;
    var list = $("calls");
    list.textContent = "";
    callLayer.clearLayers();
    markers = {};
    var shown = calls.features.filter(function (f) { return !hidden[f.properties.category]; });
    shown.slice().sort(function (a, b) { return a.properties.opened < b.properties.opened ? 1 : -1; }).forEach(function (f) {
      var p = f.properties, lon = f.geometry.coordinates[0], lat = f.geometry.coordinates[1];
      var place = nearestPlace(lat, lon);
      var where = place ? "Near " + place : lat.toFixed(3) + ", " + lon.toFixed(3);
      var item = el("li", { "data-call": p.call, "data-category": p.category });
      var button = el("button", { type: "button", class: "call", "aria-label": callLine(p) + ". " + where + ". Opened " + ago(p.opened) + "." });
      button.style.borderLeftColor = colourOf(p.category);
      var what = el("span", { class: "what" }, words(p.category));
      button.appendChild(what);
      button.appendChild(el("span", { class: "badge " + p.status }, STATUS_WORDS[p.status]));
      if (p.priority === "emergency") button.appendChild(el("span", { class: "badge emergency" }, "emergency"));
      button.appendChild(el("span", { class: "where" }, where + " (" + calls.cell_m + " m square)"));
      button.appendChild(el("span", { class: "when" }, "Opened " + clock(p.opened) + ", " + ago(p.opened)));
      button.addEventListener("click", function () { focusCall(p.call); });
      item.appendChild(button);
      list.appendChild(item);
      // Calls on SVG (a few dozen, each an element readers and tests can find), roads on canvas (thousands).
      var marker = L.circleMarker([lat, lon], {
        renderer: svgRenderer, className: "call-marker", radius: p.status === "closed" ? 7 : 10, color: "#1b1f24", weight: 1.5, fillColor: colourOf(p.category),
        fillOpacity: p.status === "closed" ? 0.45 : 0.9, dashArray: p.status === "open" ? "3 3" : null
      });
      marker.bindPopup("<strong>" + escapeHtml(words(p.category)) + "</strong><br>" + escapeHtml(STATUS_WORDS[p.status]) +
        (p.priority === "emergency" ? ", emergency" : "") + "<br>" + escapeHtml(where) + "<br>Opened " + escapeHtml(clock(p.opened)));
      marker.addTo(callLayer);
      marker.getElement().setAttribute("data-call", p.call);
      markers[p.call] = marker;
    });
    $("calls-count").textContent = "(" + shown.length + (shown.length !== calls.features.length ? " of " + calls.features.length : "") + ")";
    $("no-calls").hidden = shown.length > 0;
    renderFilters(calls.features.map(function (f) { return f.properties.category; }).filter(function (c, i, a) { return a.indexOf(c) === i; }).sort());
  }
  function fitOnce() {
    if (fitted || !map) return;
    var points = [];
    [calls, units].forEach(function (doc) {
      if (doc) doc.features.forEach(function (f) { points.push([f.geometry.coordinates[1], f.geometry.coordinates[0]]); });
    });
    if (!points.length) return;
    fitted = true;
    map.fitBounds(L.latLngBounds(points).pad(0.15), { maxZoom: 14 });
  }
  function focusCall(token) {
    var marker = markers[token];
    if (!marker) return;
    map.setView(marker.getLatLng(), Math.max(map.getZoom(), 14));
    marker.openPopup();
  }
  function renderUnits() {
    if (!units || !map) return;
    unitLayer.clearLayers();
    var counts = {};
    units.features.forEach(function (f) {
      var p = f.properties, n = p.count || 1;
      counts[p.status] = (counts[p.status] || 0) + n;
      var lon = f.geometry.coordinates[0], lat = f.geometry.coordinates[1];
      L.circleMarker([lat, lon], { renderer: svgRenderer, className: "unit-marker", radius: 5, color: "#ffffff", weight: 1.5,
        fillColor: "#1b1f24", fillOpacity: 0.85 })
        .bindTooltip("Police car" + (n > 1 ? "s: " + n : "") + ", " + (UNIT_WORDS[p.status] || p.status))
        .addTo(unitLayer);
    });
    var total = Object.keys(counts).reduce(function (s, k) { return s + counts[k]; }, 0);
    var parts = Object.keys(UNIT_WORDS).filter(function (k) { return counts[k]; }).map(function (k) { return counts[k] + " " + UNIT_WORDS[k]; });
    $("units-summary").textContent = total ? "Police cars on the map (black dots, as they were " + minutesText(units.delay_s) + " ago): " + total + ", " + parts.join(", ") + "." :
      "No police cars to show for " + clock(units.as_of) + ".";
  }

  /* ---- live refresh ---- */
  var lastText = {};
  function refresh() {
    ["calls.geojson", "units.geojson"].forEach(function (name) {
      fetch(name, { cache: "no-cache" }).then(function (r) {
        if (!r.ok) throw new Error(name + ": " + r.status);
        return r.text();
      }).then(function (text) {
        if (lastText[name] === text) return;
        lastText[name] = text;
        var doc = JSON.parse(text);
        if (name === "calls.geojson") { calls = doc; renderCalls(); } else { units = doc; renderUnits(); }
        statement();
        fitOnce();
      }).catch(function () {
        if (!calls) $("statement").textContent = "The public feed is not available yet; this page tries again every " + site.refresh_s + " s.";
      });
    });
  }

  /* ---- trends ---- */
  function loadScript(src, css) {
    return new Promise(function (resolve, reject) {
      var link = el("link", { rel: "stylesheet", href: css });
      document.head.appendChild(link);
      var script = el("script", { src: src });
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }
  function loadTrends() {
    if (trendsLoaded) return;
    trendsLoaded = true;
    var me = document.querySelector("script[data-uplot]");
    $("charts").textContent = "Loading the trends…";
    Promise.all([loadScript(me.getAttribute("data-uplot"), me.getAttribute("data-uplot-css")), getJSON("trends.json")])
      .then(function (results) { trendsData = results[1]; renderCharts(); })
      .catch(function () { $("charts").textContent = "The trends could not be loaded."; trendsLoaded = false; });
  }
  function selected(doc) { return doc.categories.filter(function (c) { return !hidden[c]; }); }
  function figure(id, title, means, cannot, label) {
    var fig = el("figure", { class: "chart", id: id, "aria-labelledby": id + "-title" });
    var cap = el("figcaption");
    cap.appendChild(el("h3", { id: id + "-title" }, title));
    var m = el("p", { class: "means" });
    m.appendChild(el("strong", null, "What it shows: "));
    m.appendChild(document.createTextNode(means));
    var c = el("p", { class: "means" });
    c.appendChild(el("strong", null, "What it cannot tell you: "));
    c.appendChild(document.createTextNode(cannot));
    cap.appendChild(m);
    cap.appendChild(c);
    fig.appendChild(cap);
    var plot = el("div", { class: "plot", role: "img", "aria-label": label });
    fig.appendChild(plot);
    $("charts").appendChild(fig);
    return { fig: fig, plot: plot };
  }
  function tableFor(fig, headers, rows) {
    var details = el("details");
    details.appendChild(el("summary", null, "Show as a table"));
    var wrap = el("div", { class: "table-scroll" });
    var table = el("table", { class: "data" });
    var thead = el("thead"), tr = el("tr");
    headers.forEach(function (h, i) { tr.appendChild(el("th", { scope: "col", class: i ? "n" : null }, h)); });
    thead.appendChild(tr);
    table.appendChild(thead);
    var tbody = el("tbody");
    details.addEventListener("toggle", function () {   // built when opened: a year of days is long
      if (!details.open || tbody.children.length) return;
      rows.forEach(function (row) {
        var r = el("tr");
        row.forEach(function (v, i) { r.appendChild(el(i ? "td" : "th", i ? { class: "n" } : { scope: "row" }, v === null ? "–" : String(v))); });
        tbody.appendChild(r);
      });
    });
    table.appendChild(tbody);
    wrap.appendChild(table);
    details.appendChild(wrap);
    fig.appendChild(details);
  }
  function width(node) { return Math.max(280, node.clientWidth || 600); }
  function sum(arrays, length) {
    var out = new Array(length).fill(0);
    arrays.forEach(function (a) { for (var i = 0; i < length; i++) out[i] += a[i]; });
    return out;
  }
  var charts = [];
  function renderCharts() {
    var doc = trendsData;
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    var box = $("charts");
    box.textContent = "";
    var cats = selected(doc);
    $("trends-lead").textContent = "From every call this site published between " + doc.from + " and " + doc.to + " (" + doc.calls +
      " calls; days and hours in " + doc.timezone + " time): the same delayed, rounded calls, never the sensitive ones. Use the filters on the Now page to leave kinds of call out.";
    if (!doc.calls) { box.appendChild(el("p", null, "No call has been published yet.")); return; }
    var bars = uPlot.paths.bars({ size: [0.9, 60] });

    // 1. per day, stacked by category
    var days = doc.daily.days.map(function (d) { return Date.parse(d + "T12:00:00Z") / 1000; });
    var n = days.length, total = sum(cats.map(function (c) { return doc.daily.counts[c]; }), n);
    var busiest = total.reduce(function (b, v, i) { return v > total[b] ? i : b; }, 0);
    var f1 = figure("chart-daily", "Calls per day, by kind",
      "how many calls of each kind were opened each day.",
      "more calls can mean more reporting, a campaign or a busy event rather than more crime; a quiet day is not a safe day. Sensitive calls are never counted.",
      "Bar chart of calls per day from " + doc.from + " to " + doc.to + ": " + total.reduce(function (a, b) { return a + b; }, 0) +
      " calls; the busiest day was " + doc.daily.days[busiest] + " with " + total[busiest] + ".");
    var stacked = [], running = new Array(n).fill(0), series1 = [{}];
    cats.forEach(function (c) {
      running = running.map(function (v, i) { return v + doc.daily.counts[c][i]; });
      stacked.push(running.slice());
    });
    var data1 = [days];
    for (var k = cats.length - 1; k >= 0; k--) {
      data1.push(stacked[k]);
      (function (c, k) {
        series1.push({ label: words(c), fill: colourOf(c), stroke: colourOf(c), width: 0, paths: bars, points: { show: false },
          value: function (u, v, s, i) { return i === null ? "–" : doc.daily.counts[c][i]; } });
      })(cats[k], k);
    }
    charts.push(new uPlot({ width: width(f1.plot), height: 260, series: series1, scales: { x: { time: true } },
      axes: [{}, { label: "calls", size: 50 }], legend: { live: true } }, data1, f1.plot));
    tableFor(f1.fig, ["Day"].concat(cats.map(words)).concat(["All"]),
      doc.daily.days.map(function (d, i) { return [d].concat(cats.map(function (c) { return doc.daily.counts[c][i]; })).concat([total[i]]); }));

    // 2. hour of the week
    var weeks = doc.hour_of_week.weeks || 1;
    var hours = sum(cats.map(function (c) { return doc.hour_of_week.counts[c]; }), 168);
    var perDay = DAYS.map(function (_, d) { return hours.slice(d * 24, d * 24 + 24).map(function (v) { return +(v / weeks).toFixed(2); }); });
    var peak = hours.reduce(function (b, v, i) { return v > hours[b] ? i : b; }, 0);
    var f2 = figure("chart-hours", "When calls come in: hour of the day, each day of the week",
      "the average number of calls opened in each hour, one line per day of the week (Friday and Saturday nights stand out where they are busy).",
      "when things happened, only when they were reported; a call opened at 9 am may be about a burglary in the night.",
      "Line chart of average calls per hour for each day of the week; the busiest hour is " + DAYS[Math.floor(peak / 24)] + " " + (peak % 24) + ":00.");
    var dayColours = ["#9aa5b1", "#7f8c99", "#65727f", "#4b5865", "#d55e00", "#b3004b", "#0072b2"];
    var series2 = [{ label: "hour", value: function (u, v) { return v === null ? "–" : v + ":00"; } }].concat(DAYS.map(function (d, i) {
      return { label: d, stroke: dayColours[i], width: i >= 4 ? 2.5 : 1.5 };
    }));
    charts.push(new uPlot({ width: width(f2.plot), height: 240, series: series2,
      scales: { x: { time: false } }, axes: [{ label: "hour of the day", values: function (u, vals) { return vals.map(function (v) { return v + ":00"; }); } },
        { label: "calls per hour", size: 50 }] },
      [Array.from({ length: 24 }, function (_, i) { return i; })].concat(perDay), f2.plot));
    tableFor(f2.fig, ["Hour"].concat(DAYS), Array.from({ length: 24 }, function (_, h) { return [h + ":00"].concat(perDay.map(function (d) { return d[h]; })); }));

    // 3. areas
    var names = doc.areas.names;
    var areaTotals = sum(cats.map(function (c) { return doc.areas.counts[c]; }), names.length);
    var order = names.map(function (_, i) { return i; }).filter(function (i) { return areaTotals[i] > 0; }).sort(function (a, b) { return areaTotals[b] - areaTotals[a]; }).slice(0, 15);
    var f3 = figure("chart-areas", "Calls by area", "how many calls were opened in each " + (doc.areas.by === "place" ? "named area (each grid square counted in the nearest place on the map)" : "grid square") + ", the 15 busiest.",
      "areas differ in how many people live, work or go out there: a busy town centre is not more dangerous per person. Squares are rounded; a call near a boundary may count in the next area.",
      "Bar chart of calls by area; the busiest is " + (order.length ? names[order[0]] + " with " + areaTotals[order[0]] + " calls" : "none") + ".");
    var ticks = order.map(function (_, i) { return i; });
    charts.push(new uPlot({ width: width(f3.plot), height: Math.max(200, 26 * order.length + 60),
      series: [{ label: "area", value: function (u, v) { return v === null ? "–" : names[order[v]]; } },
        { label: "calls", fill: "#0b4f8a", stroke: "#0b4f8a", paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } }],
      scales: { x: { time: false, ori: 1, dir: -1, range: [-0.6, order.length - 0.4] }, y: { ori: 0, range: function (u, lo, hi) { return [0, Math.max(1, hi * 1.05)]; } } },
      axes: [{ side: 3, size: 150, splits: function () { return ticks; }, values: function (u, vals) { return vals.map(function (v) { return names[order[v]] || ""; }); }, grid: { show: false } },
        { side: 2, label: "calls", space: 70 }], legend: { show: false } },
      [ticks, order.map(function (i) { return areaTotals[i]; })], f3.plot));
    tableFor(f3.fig, ["Area"].concat(cats.map(words)).concat(["All"]),
      names.map(function (name, i) { return [name].concat(cats.map(function (c) { return doc.areas.counts[c][i]; })).concat([areaTotals[i]]); }));

    // 4. response times
    var r = doc.response, wk = r.weeks.map(function (d) { return Date.parse(d + "T12:00:00Z") / 1000; });
    var prios = ["emergency", "priority", "routine"], pc = { emergency: "#a1001c", priority: "#d55e00", routine: "#0072b2" };
    var series4 = [{}], data4 = [wk];
    prios.forEach(function (p) {
      series4.push({ label: PRIORITY_WORDS[p] + " median", stroke: pc[p], width: 2.5, spanGaps: false, points: { show: false },
        value: function (u, v) { return v === null ? "–" : v + " min"; } });
      data4.push(r.by_priority[p].median);
      series4.push({ label: PRIORITY_WORDS[p] + " 90%", stroke: pc[p], width: 1.5, dash: [6, 4], spanGaps: false, points: { show: false },
        value: function (u, v) { return v === null ? "–" : v + " min"; } });
      data4.push(r.by_priority[p].p90);
    });
    var f4 = figure("chart-response", "How quickly officers arrive, by priority",
      "minutes from a call opening to the feed first showing officers at the scene, per week: the median (half of calls were reached sooner; solid) and the 90th percentile (nine in ten were reached sooner; dashed). A week with fewer than " +
        r.min_for_median + " timed calls has no median, with fewer than " + r.min_for_p90 + " no 90th percentile.",
      "times are to the minute and start when the call was logged, not when it happened; calls dealt with by phone or never attended are not in it; a slow week can mean more calls at once, not slower officers.",
      "Line chart of weekly median and 90th percentile response times in minutes for emergency, priority and routine calls.");
    // A log scale: emergencies take minutes, routine calls hours; on a linear one the first would be a flat line.
    charts.push(new uPlot({ width: width(f4.plot), height: 280, series: series4,
      scales: { x: { time: true }, y: { distr: 3, log: 10 } },
      axes: [{}, { label: "minutes (log scale)", size: 55 }] }, data4, f4.plot));
    var rows4 = [];
    r.weeks.forEach(function (w, i) {
      prios.forEach(function (p) {
        var b = r.by_priority[p];
        if (b.calls[i]) rows4.push([w, PRIORITY_WORDS[p], b.calls[i], b.timed[i], b.median[i], b.p90[i]]);
      });
    });
    tableFor(f4.fig, ["Week from", "Priority", "Calls", "Timed", "Median (min)", "90% (min)"], rows4);
  }

  /* ---- open data ---- */
  function openData() {
    var licence = $("licence");
    licence.textContent = "Licence: ";
    licence.appendChild(el("a", { href: site.licence.url }, site.licence.name));
    licence.appendChild(document.createTextNode(". Cite as: " + site.title + ", published calls."));
    var tbody = $("dictionary").querySelector("tbody");
    site.fields.forEach(function (f) {
      var tr = el("tr");
      tr.appendChild(el("th", { scope: "row" }, f.name));
      tr.appendChild(el("td", null, f.type));
      tr.appendChild(el("td", null, f.description));
      tbody.appendChild(tr);
    });
    if (site.static) {
      var form = $("download");
      form.textContent = "";
      form.appendChild(el("a", { class: "button", href: "open-data/calls.csv" }, "Download CSV (last 365 days)"));
      form.appendChild(el("a", { class: "button", href: "open-data/calls.geojson" }, "Download GeoJSON (last 365 days)"));
    } else {
      var today = new Date().toISOString().slice(0, 10);
      $("to").value = today;
      $("from").value = new Date(Date.now() - 30 * 86400000).toISOString().slice(0, 10);
      $("range-note").textContent = "Days in " + site.timezone + " time, both included; at most 366 days per download. Without dates: the last 31 days.";
    }
  }

  function pageWeight() {
    if (!window.performance || !performance.getEntriesByType) return;
    setTimeout(function () {
      var bytes = performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation"))
        .reduce(function (s, e) { return s + (e.transferSize || e.encodedBodySize || 0); }, 0);
      if (bytes) $("weight").textContent = "This page weighed " + Math.round(bytes / 1024) + " KB to load.";
    }, 3000);
  }

  function start() {
    getJSON("site.json").then(function (s) {
      site = s;
      timeFormat = new Intl.DateTimeFormat("en-GB", { timeZone: site.timezone, hour: "2-digit", minute: "2-digit" });
      setupMap();
      openData();
      window.addEventListener("hashchange", showView);
      var lastWidth = window.innerWidth;
      window.addEventListener("resize", function () {   // a phone turned: charts are drawn to their width
        if (!trendsData || Math.abs(window.innerWidth - lastWidth) < 40) return;
        lastWidth = window.innerWidth;
        renderCharts();
      });
      showView();
      refresh();
      setInterval(refresh, site.refresh_s * 1000);
      setInterval(function () { if (calls) renderCalls(); }, 60000);   // "opened N min ago"
      pageWeight();
    }).catch(function () { $("statement").textContent = "This site's settings could not be loaded."; });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
