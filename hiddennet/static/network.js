// hiddennet's own script: the person-centred network view drawn with the vendored cytoscape.
// Links coloured by layer, node size by harm, people to safeguard as open green rings, dismantling
// picks as squares, the strongest path in black. Expanding is a plain link (works without script);
// the list beside the picture is the keyboard and screen-reader route to every person.
(function () {
  var holder = document.getElementById("cy");
  var data = document.getElementById("graph-data");
  if (!holder || !data || typeof window.cytoscape !== "function") { return; }
  var g = JSON.parse(data.textContent);
  var elements = [];
  g.nodes.forEach(function (n) {
    elements.push({ group: "nodes", data: { id: n.id, label: n.label, safeguard: n.to_safeguard ? 1 : 0,
      pick: n.pick ? 1 : 0, centre: n.centre ? 1 : 0, size: n.size, href: n.href, expand: n.expand_href || "" } });
  });
  g.edges.forEach(function (e, i) {
    elements.push({ group: "edges", data: { id: "e" + i, source: e.source, target: e.target, layer: e.layer,
      weight: e.weight, colour: e.layer === "path" ? "#000000" : (g.colours[e.layer] || "#999999") } });
  });
  holder.style.display = "block";
  var cy = window.cytoscape({
    container: holder,
    elements: elements,
    layout: { name: g.nodes.length > 40 ? "concentric" : "cose", animate: false, randomize: false,
      concentric: function (n) { return n.data("centre") ? 10 : n.degree(); }, minNodeSpacing: 8 },
    style: [
      { selector: "node", style: { "background-color": "#0072B2", "label": "data(label)", "font-size": 10,
        "width": "data(size)", "height": "data(size)" } },
      { selector: "node[pick = 1]", style: { "shape": "square", "border-color": "#000000", "border-width": 3 } },
      { selector: "node[safeguard = 1]", style: { "background-color": "#ffffff", "border-color": "#009E73", "border-width": 3, "shape": "ellipse" } },
      { selector: "node[centre = 1]", style: { "font-weight": "bold" } },
      { selector: "node:selected", style: { "border-color": "#D55E00", "border-width": 5 } },
      { selector: "edge", style: { "line-color": "data(colour)", "curve-style": "bezier",
        "width": "mapData(weight, 0, 5, 1.5, 6)" } },
      { selector: "edge[layer = 'path']", style: { "width": 5, "z-index": 10 } }
    ]
  });
  window.hiddennetGraph = cy;
  var info = document.getElementById("node-info");
  function link(href, text) { var a = document.createElement("a"); a.href = href; a.textContent = text; return a; }
  function show(node) {
    cy.elements().unselect();
    node.select();
    var what = node.data("safeguard") ? "person to safeguard (never a target)" : (node.data("pick") ? "dismantling pick" : "member");
    info.textContent = node.data("label") + ": " + what + ", " + node.degree() + " link(s) shown. ";
    info.appendChild(link(node.data("href"), "Person page"));
    if (node.data("expand")) { info.appendChild(document.createTextNode(" ")); info.appendChild(link(node.data("expand"), "Expand")); }
    holder.setAttribute("data-selected", node.id());
  }
  cy.on("tap", "node", function (evt) { show(evt.target); });
  window.hiddennetMemberList(cy, show);
  holder.setAttribute("data-ready", "1");
})();
