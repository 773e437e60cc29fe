// The computers list's "select all on this page" box and the count of chosen computers.
// Delegated from the document, so it keeps working after htmx swaps the table.
(function () {
  "use strict";
  function boxes() {
    return Array.from(document.querySelectorAll('input[form="selection"][name="computer"]'));
  }
  function update() {
    var all = boxes();
    var chosen = all.filter(function (b) { return b.checked; }).length;
    var head = document.getElementById("pick-all");
    if (head) {
      head.checked = all.length > 0 && chosen === all.length;
      head.indeterminate = chosen > 0 && chosen < all.length;
    }
    var count = document.getElementById("bulk-count");
    if (count) { count.textContent = " (" + chosen + ")"; }
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.id === "pick-all") {
      boxes().forEach(function (b) { b.checked = target.checked; });
    }
    update();
  });
  document.addEventListener("htmx:afterSwap", update);
  document.addEventListener("DOMContentLoaded", update);
})();
