/* The dispatcher's board: open incidents, ranked units with why-not, the map; live from /api/events.
 * Every action is a JSON call to the same API a CAD system uses, with the page's CSRF token. */
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var basemapUrl = document.querySelector('meta[name="basemap"]').content;
  var esc = function (t) { return window.ActiveCallsBasemap.escapeHtml(t == null ? "" : t); };
  var units = {}, incidents = {}, etas = {}, selected = null, offset = 0;
  var map, unitMarkers = {}, incidentMarkers = {}, pick = null;
  function $(id) { return document.getElementById(id); }
  function now() { return Date.now() / 1000 + offset; }

  function duration(s) {
    if (s == null || !isFinite(s)) return "?";
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  }
  function fixAge(u) { return u && u.fix_time ? now() - Date.parse(u.fix_time) / 1000 : null; }

  function say(text, bad) { var m = $("message"); m.textContent = text; m.className = "message" + (bad ? " bad" : ""); }

  function api(method, path, body) {
    return fetch(path, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error((data && data.error) || ("HTTP " + r.status));
        return data;
      });
    });
  }

  /* ---- incidents ---- */
  function openIncidents() {
    return Object.keys(incidents).map(function (k) { return incidents[k]; })
      .filter(function (i) { return i.status === "open"; })
      .sort(function (a, b) { return a.priority - b.priority || Date.parse(a.opened) - Date.parse(b.opened) || (a.id < b.id ? -1 : 1); });
  }
  function renderIncidents() {
    var list = $("incidents"), open = openIncidents();
    $("incident-count").textContent = "(" + open.length + ")";
    if (selected && (!incidents[selected] || incidents[selected].status !== "open")) selected = null;
    if (!selected && open.length) selected = open[0].id;
    list.innerHTML = open.map(function (i) {
      var rec = etas[i.id] && etas[i.id].recommended;
      return '<li data-id="' + esc(i.id) + '" class="p' + i.priority + (i.id === selected ? " selected" : "") + '">' +
        '<button type="button"><b>P' + i.priority + "</b> " + esc(i.type) + ' <span class="id">' + esc(i.id) + "</span>" +
        '<span class="age">' + duration(now() - Date.parse(i.opened) / 1000) + " ago</span>" +
        '<span class="units">' + (i.units.length ? "assigned: " + esc(i.units.join(", ")) : "unassigned") +
        (rec ? " · rec. " + esc(rec) : "") + "</span></button></li>";
    }).join("") || '<li class="empty">No open incidents.</li>';
    renderDetail();
    renderIncidentMarkers();
  }
  function renderDetail() {
    var box = $("detail"), i = selected && incidents[selected];
    if (!i) { box.hidden = true; return; }
    box.hidden = false;
    $("detail-title").textContent = "P" + i.priority + " " + i.type + " — " + i.id;
    $("detail-meta").textContent = "Opened " + duration(now() - Date.parse(i.opened) / 1000) + " ago at " +
      i.lat.toFixed(5) + ", " + i.lon.toFixed(5) + (i.units.length ? "; assigned " + i.units.join(", ") : "");
    var report = etas[i.id];
    $("detail-rec").textContent = !report ? "Computing ETAs…" : report.recommended
      ? "Recommended: " + report.recommended + " (" + rowOf(report, report.recommended).eta_text + ")"
      : "No unit to recommend (none available with a fresh position and a connection).";
    $("assign-rec").disabled = !(report && report.recommended);
    $("candidates").innerHTML = !report ? "" : report.rows.map(function (r) {
      var u = units[r.unit] || {}, stale = u.stale != null ? u.stale : r.stale, off = u.offline != null ? u.offline : r.offline;
      var why = r.why_not.slice();
      if (stale && why.indexOf("stale position") < 0 && !r.recommended) why.push("stale position");
      var flags = (stale ? '<span class="flag stale">STALE</span>' : "") + (off ? '<span class="flag offline">OFFLINE</span>' : "");
      return '<tr data-unit="' + esc(r.unit) + '" class="' + (r.recommended ? "recommended" : "") + (stale ? " stale" : "") + (off ? " offline" : "") + '">' +
        "<td>" + r.rank + "</td><td><b>" + esc(r.unit) + "</b>" + flags + "</td>" +
        "<td>" + esc(r.stale && r.eta_min_s != null ? duration(r.eta_min_s) + "–" + r.eta_text : r.eta_text) + "</td>" +
        "<td>" + esc(r.distance_text) + "</td><td>" + esc(u.duty || r.status) + "</td>" +
        '<td class="fixage" data-unit="' + esc(r.unit) + '">' + duration(fixAge(u) != null ? fixAge(u) : r.fix_age_s) + "</td>" +
        "<td>" + esc(r.method_label) + "</td><td>" + esc(r.confidence) + "</td>" +
        '<td class="why">' + (r.recommended ? "<b>recommended</b>" : esc(why.join("; "))) + "</td>" +
        '<td><button type="button" class="assign" data-unit="' + esc(r.unit) + '"' + (r.assigned ? " disabled" : "") + ">Assign</button></td></tr>";
    }).join("");
  }
  function rowOf(report, unit) { return report.rows.filter(function (r) { return r.unit === unit; })[0] || {}; }

  /* ---- units ---- */
  var DUTIES = ["available", "dispatched", "enroute", "onscene", "unavailable"];
  function renderUnits() {
    var ids = Object.keys(units).sort();
    $("units").innerHTML = ids.map(function (id) {
      var u = units[id];
      return '<tr data-unit="' + esc(id) + '" class="' + (u.stale ? "stale" : "") + (u.offline ? " offline" : "") + '">' +
        "<td><b>" + esc(id) + "</b></td><td>" + esc(u.duty) + "</td>" +
        '<td class="fixage" data-unit="' + esc(id) + '">' + (u.fix_time ? duration(fixAge(u)) : "no fix") + (u.stale ? ' <span class="flag stale">STALE</span>' : "") + "</td>" +
        "<td>" + (u.offline ? '<span class="flag offline">OFFLINE</span>' : esc(u.connectivity || "?")) + "</td>" +
        '<td><select class="duty" data-unit="' + esc(id) + '" aria-label="Duty of ' + esc(id) + '">' +
        DUTIES.map(function (d) { return "<option" + (d === u.duty ? " selected" : "") + ">" + d + "</option>"; }).join("") +
        "</select></td></tr>";
    }).join("");
    renderUnitMarkers();
  }

  /* ---- the map ---- */
  function setupMap() {
    map = L.map("map", { preferCanvas: true, keyboard: true });
    map.attributionControl.setPrefix(false);
    map.setView([53.2352, -1.4264], 13);
    var renderer = L.canvas({ padding: 0.3 });
    if (basemapUrl) {
      fetch(basemapUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (layer) {
        window.ActiveCallsBasemap.draw(map, layer, renderer);
        if (layer.bounds) map.fitBounds([[layer.bounds[0], layer.bounds[1]], [layer.bounds[2], layer.bounds[3]]]);
      }).catch(function () { say("The map's background did not load.", true); });
    } else {
      map.attributionControl.addAttribution("© OpenStreetMap contributors");
    }
    map.on("click", function (e) {
      var f = $("open-form");
      f.lat.value = e.latlng.lat.toFixed(6); f.lon.value = e.latlng.lng.toFixed(6);
      $("open-form-box").open = true;
      if (pick) map.removeLayer(pick);
      pick = L.circleMarker(e.latlng, { radius: 8, color: "#b00020", dashArray: "3" }).addTo(map);
      f.type.focus();
    });
  }
  function unitColour(u) { return u.offline ? "#6b6b6b" : u.stale ? "#b36b00" : u.duty === "available" ? "#1a7f37" : "#0b4f8a"; }
  function renderUnitMarkers() {
    if (!map) return;
    var rec = selected && etas[selected] && etas[selected].recommended;
    Object.keys(units).forEach(function (id) {
      var u = units[id];
      if (u.lat == null) return;
      var m = unitMarkers[id], style = { color: id === rec ? "#ffbf47" : "#ffffff", weight: id === rec ? 4 : 1.5, fillColor: unitColour(u), fillOpacity: 1, radius: 7 };
      if (!m) {
        m = unitMarkers[id] = L.circleMarker([u.lat, u.lon], style).addTo(map);
        m.bindTooltip("", { direction: "top" });
      } else {
        m.setLatLng([u.lat, u.lon]); m.setStyle(style);
      }
      m.setTooltipContent(esc(id) + " · " + esc(u.duty) + (u.stale ? " · STALE" : "") + (u.offline ? " · OFFLINE" : ""));
    });
  }
  function renderIncidentMarkers() {
    if (!map) return;
    var open = {};
    openIncidents().forEach(function (i) {
      open[i.id] = true;
      var m = incidentMarkers[i.id];
      var style = { radius: 11, color: "#b00020", weight: i.id === selected ? 4 : 2, fillColor: "#ff4d6a", fillOpacity: 0.35 };
      if (!m) {
        m = incidentMarkers[i.id] = L.circleMarker([i.lat, i.lon], style).addTo(map);
        m.on("click", function () { selected = i.id; renderIncidents(); });
      } else { m.setLatLng([i.lat, i.lon]); m.setStyle(style); }
      m.bindTooltip("P" + i.priority + " " + esc(i.type) + " " + esc(i.id));
    });
    Object.keys(incidentMarkers).forEach(function (id) {
      if (!open[id]) { map.removeLayer(incidentMarkers[id]); delete incidentMarkers[id]; }
    });
  }

  /* ---- actions ---- */
  function assign(unit) {
    if (!selected || !unit) return;
    var id = selected;
    say("Assigning " + unit + " to " + id + "…");
    api("POST", "/api/incidents/" + encodeURIComponent(id) + "/assign", { unit: unit })
      .then(function () { say(unit + " assigned to " + id + "."); }, function (e) { say(e.message, true); });
  }
  function wire() {
    $("incidents").addEventListener("click", function (e) {
      var li = e.target.closest("li[data-id]");
      if (li) { selected = li.dataset.id; renderIncidents(); }
    });
    $("candidates").addEventListener("click", function (e) {
      var b = e.target.closest("button.assign");
      if (b) assign(b.dataset.unit);
    });
    $("assign-rec").addEventListener("click", function () { assign(etas[selected] && etas[selected].recommended); });
    $("close-incident").addEventListener("click", function () {
      var id = selected;
      if (!id || !window.confirm("Close incident " + id + "?")) return;
      api("POST", "/api/incidents/" + encodeURIComponent(id) + "/close").then(function () { say(id + " closed."); }, function (e) { say(e.message, true); });
    });
    $("units").addEventListener("change", function (e) {
      var s = e.target.closest("select.duty");
      if (!s) return;
      api("PUT", "/api/units/" + encodeURIComponent(s.dataset.unit) + "/status", { status: s.value })
        .then(function () { say(s.dataset.unit + ": " + s.value + "."); }, function (err) { say(err.message, true); });
    });
    $("open-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var f = e.target, stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
      var rand = Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, "0");
      var body = { id: "BRD-" + stamp + "-" + rand, type: f.type.value.trim(), priority: Number(f.priority.value),
                   lat: Number(f.lat.value), lon: Number(f.lon.value) };
      api("POST", "/api/incidents", body).then(function (d) {
        selected = d.incident.id; say("Opened " + d.incident.id + ".");
        if (pick) { map.removeLayer(pick); pick = null; }
      }, function (err) { say(err.message, true); });
    });
    $("logout").addEventListener("submit", function (e) {
      e.preventDefault();
      api("POST", "/logout").catch(function () {}).then(function () { window.location = "/login"; });
    });
    document.addEventListener("keydown", function (e) {
      var t = e.target.tagName;
      if (e.key === "a" && !e.ctrlKey && !e.metaKey && !e.altKey && t !== "INPUT" && t !== "SELECT" && t !== "TEXTAREA") {
        e.preventDefault();
        assign(etas[selected] && etas[selected].recommended);
      }
    });
  }

  /* ---- the event stream ---- */
  function connect() {
    var source = new EventSource("/api/events");
    var link = $("link");
    source.addEventListener("open", function () { link.textContent = "live"; link.dataset.state = "live"; });
    source.addEventListener("error", function () { link.textContent = "reconnecting…"; link.dataset.state = "down"; });
    source.addEventListener("snapshot", function (e) {
      var d = JSON.parse(e.data);
      offset = d.now - Date.now() / 1000;
      units = {}; incidents = {}; etas = {};
      d.units.forEach(function (u) { units[u.unit] = u; });
      d.incidents.forEach(function (i) { incidents[i.id] = i; });
      d.etas.forEach(function (r) { etas[r.incident] = r; });
      renderUnits(); renderIncidents();
    });
    source.addEventListener("units", function (e) {
      var d = JSON.parse(e.data);
      offset = d.now - Date.now() / 1000;
      d.units.forEach(function (u) { units[u.unit] = u; });
      renderUnits(); renderDetail();
    });
    source.addEventListener("incident", function (e) {
      var i = JSON.parse(e.data);
      if (i.status === "removed" || i.status === "closed") { delete incidents[i.id]; delete etas[i.id]; } else incidents[i.id] = i;
      renderIncidents();
    });
    source.addEventListener("eta", function (e) {
      var r = JSON.parse(e.data);
      etas[r.incident] = r;
      document.body.dataset.lastEta = r.incident + "@" + r.computed;
      renderIncidents();
    });
    /* Ages count on between events. */
    window.setInterval(function () {
      document.querySelectorAll("td.fixage").forEach(function (td) {
        var u = units[td.dataset.unit];
        if (u && u.fix_time) td.firstChild.textContent = duration(fixAge(u));
      });
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupMap(); wire(); connect();
  });
})();
