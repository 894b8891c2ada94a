// hiddennet's own script: turns the group's network picture into an interactive one with the
// vendored cytoscape (pan, zoom, drag). Without script the server-drawn SVG stays in place.
(function () {
  var holder = document.getElementById("cy");
  var data = document.getElementById("graph-data");
  if (!holder || !data || typeof window.cytoscape !== "function") { return; }
  var g = JSON.parse(data.textContent);
  var elements = [];
  g.nodes.forEach(function (n) {
    elements.push({ group: "nodes", data: { id: n.id, label: n.label, safeguard: n.to_safeguard ? 1 : 0 }, position: { x: n.x, y: n.y } });
  });
  g.edges.forEach(function (e, i) {
    elements.push({ group: "edges", data: { id: "e" + i, source: e.source, target: e.target, weight: e.weight } });
  });
  holder.style.display = "block";
  var svg = document.getElementById("svg-picture");
  if (svg) { svg.style.display = "none"; }
  window.cytoscape({
    container: holder,
    elements: elements,
    layout: { name: "preset" },
    style: [
      { selector: "node", style: { "background-color": "#0072B2", "label": "data(label)", "font-size": 10, "width": 14, "height": 14 } },
      { selector: "node[safeguard = 1]", style: { "background-color": "#ffffff", "border-color": "#009E73", "border-width": 3 } },
      { selector: "edge", style: { "line-color": "#999999", "width": "mapData(weight, 0, 5, 1, 5)" } }
    ]
  });
})();
