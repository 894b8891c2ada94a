// hiddennet's own script: turns the group's network picture into an interactive one with the
// vendored cytoscape (pan, zoom, drag, click a node). Without script the server-drawn SVG stays.
// Keyboard and screen-reader users get the member list (#node-list): each entry is a button that
// selects the node in the picture and says what it is in the live region (#node-info).
(function () {
  var holder = document.getElementById("cy");
  var data = document.getElementById("graph-data");
  if (!holder || !data || typeof window.cytoscape !== "function") { return; }
  var g = JSON.parse(data.textContent);
  var elements = [];
  g.nodes.forEach(function (n) {
    elements.push({ group: "nodes", data: { id: n.id, label: n.label, safeguard: n.to_safeguard ? 1 : 0,
      href: n.href || "", size: n.size || 14 }, position: { x: n.x, y: n.y } });
  });
  g.edges.forEach(function (e, i) {
    elements.push({ group: "edges", data: { id: "e" + i, source: e.source, target: e.target, weight: e.weight } });
  });
  holder.style.display = "block";
  var svg = document.getElementById("svg-picture");
  if (svg) { svg.style.display = "none"; }
  var large = g.nodes.length > 60;
  var cy = window.cytoscape({
    container: holder,
    elements: elements,
    // Large groups: concentric rings by degree separate the hubs from the periphery.
    layout: large ? { name: "concentric", concentric: function (n) { return n.degree(); }, levelWidth: function () { return 2; },
      minNodeSpacing: 6, animate: false } : { name: "preset" },
    style: [
      { selector: "node", style: { "background-color": "#0072B2", "label": "data(label)", "font-size": 10,
        "width": "data(size)", "height": "data(size)" } },
      { selector: "node[safeguard = 1]", style: { "background-color": "#ffffff", "border-color": "#009E73", "border-width": 3 } },
      { selector: "node:selected", style: { "border-color": "#D55E00", "border-width": 4 } },
      { selector: "edge", style: { "line-color": "#999999", "width": "mapData(weight, 0, 5, 1, 5)" } }
    ]
  });
  window.hiddennetGraph = cy;
  holder.setAttribute("data-layout", large ? "concentric" : "preset");
  var info = document.getElementById("node-info");
  function show(node) {
    cy.elements().unselect();
    node.select();
    var what = node.data("safeguard") ? "person to safeguard (never a target)" : "member";
    if (info) {
      info.textContent = node.data("label") + ": " + what + ", " + node.degree() + " link(s) in this group.";
      if (node.data("href")) {
        var a = document.createElement("a");
        a.href = node.data("href");
        a.textContent = " Open " + node.data("label");
        info.appendChild(a);
      }
    }
    holder.setAttribute("data-selected", node.id());
  }
  cy.on("tap", "node", function (evt) { show(evt.target); });
  window.hiddennetMemberList(cy, show);
  holder.setAttribute("data-ready", "1");
})();
