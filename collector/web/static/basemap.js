/* The offline OpenStreetMap background (basemap.json, drawn from [eta] osm by collector/web/basemap.py)
 * on a Leaflet map: roads by class, shown by zoom, and place names. Shared by the public site and the
 * dispatcher's board, so both show the same map. */
(function () {
  "use strict";
  var ROAD_STYLE = {
    motorway: { color: "#c0392b", weight: 4, minZoom: 0 }, trunk: { color: "#d35400", weight: 4, minZoom: 0 },
    primary: { color: "#e67e22", weight: 3.5, minZoom: 0 }, secondary: { color: "#d4a017", weight: 3, minZoom: 0 },
    tertiary: { color: "#9a9a9a", weight: 2.5, minZoom: 12 }, minor: { color: "#c4c4c4", weight: 1, minZoom: 12 },
    pedestrian: { color: "#c8b8a8", weight: 1.5, minZoom: 15 }
  };
  function decodeRoad(deltas) {
    var out = [], x = 0, y = 0;
    for (var i = 0; i < deltas.length; i += 2) {
      x += deltas[i]; y += deltas[i + 1];
      out.push([y / 1e5, x / 1e5]);
    }
    return out;
  }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; });
  }
  /* Draw `layer` (the parsed basemap.json) on `map`; returns its places. */
  function drawBasemap(map, layer, renderer) {
    var places = layer.places || [];
    map.attributionControl.addAttribution(layer.attribution);
    var groups = {};
    Object.keys(layer.roads).forEach(function (kind) {
      var style = ROAD_STYLE[kind] || ROAD_STYLE.minor;
      groups[kind] = L.polyline(layer.roads[kind].map(decodeRoad),
        { renderer: renderer, color: style.color, weight: style.weight, interactive: false, smoothFactor: 1.5 });
    });
    var labels = places.map(function (p) {
      return L.marker([p[2], p[3]], { interactive: false, keyboard: false,
        icon: L.divIcon({ className: "place-label " + p[1], html: escapeHtml(p[0]), iconSize: null }) });
    });
    function restyle() {
      var z = map.getZoom();
      Object.keys(groups).forEach(function (kind) {
        var show = z >= (ROAD_STYLE[kind] || ROAD_STYLE.minor).minZoom;
        if (show && !map.hasLayer(groups[kind])) groups[kind].addTo(map).bringToBack();
        if (!show && map.hasLayer(groups[kind])) map.removeLayer(groups[kind]);
      });
      labels.forEach(function (m, i) {
        var kind = places[i][1], show = kind === "town" || kind === "city" || z >= (kind === "suburb" || kind === "village" ? 13 : 15);
        if (show && !map.hasLayer(m)) m.addTo(map);
        if (!show && map.hasLayer(m)) map.removeLayer(m);
      });
    }
    map.on("zoomend", restyle);
    restyle();
    return places;
  }
  window.ActiveCallsBasemap = { draw: drawBasemap, escapeHtml: escapeHtml };
})();
