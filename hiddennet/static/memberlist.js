// hiddennet's own script, shared by the group and person-centred pictures: the member list
// (#node-list) is the keyboard and screen-reader route to every person in a cytoscape picture.
// Each entry's button selects its node (`show`) and centres it; the arrow keys move along the list.
window.hiddennetMemberList = function (cy, show) {
  document.querySelectorAll("#node-list button[data-node]").forEach(function (b) {
    b.addEventListener("click", function () {
      var n = cy.getElementById(b.getAttribute("data-node"));
      if (n.nonempty()) { show(n); cy.center(n); }
    });
  });
  var list = document.getElementById("node-list");
  if (!list) { return; }
  list.addEventListener("keydown", function (evt) {
    if (evt.key !== "ArrowDown" && evt.key !== "ArrowUp") { return; }
    var buttons = Array.prototype.slice.call(list.querySelectorAll("button[data-node]"));
    var i = buttons.indexOf(document.activeElement);
    if (i < 0) { return; }
    var next = buttons[Math.max(0, Math.min(buttons.length - 1, i + (evt.key === "ArrowDown" ? 1 : -1)))];
    evt.preventDefault();
    next.focus();
    next.click();
  });
};
