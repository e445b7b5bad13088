/* kgsite admin: a tabular inline's error in view (graph/admin.py, CompactInline).
 *
 * On a phone a tabular inline too wide for the screen scrolls sideways in its own box (kgsite/admin.css). When a
 * form comes back refused, the first field error of each such table may be in a column off to the right, and
 * the curator reads "Please correct the error below" without seeing any error: scroll the table sideways (only
 * sideways: the page stays where it is) so that the cell of that error is in view.
 */
(function () {
  "use strict";

  // The nearest box between the cell and its group that scrolls sideways (on a phone: the table itself).
  function sidewaysScroller(cell, group) {
    for (var node = cell.parentElement; node; node = node.parentElement) {
      var overflow = getComputedStyle(node).overflowX;
      if ((overflow === "auto" || overflow === "scroll") && node.scrollWidth > node.clientWidth) { return node; }
      if (node === group) { return null; }
    }
    return null;
  }

  function showFirstError(group) {
    // A field's error (td.field-<name>), not the row's own errors (tr.row-form-errors spans every column).
    var error = group.querySelector("td[class*='field-'] ul.errorlist");
    if (!error) { return; }
    var cell = error.closest("td");
    var scroller = sidewaysScroller(cell, group);
    if (!scroller) { return; }
    var box = scroller.getBoundingClientRect();
    var cellBox = cell.getBoundingClientRect();
    var left = box.left + scroller.clientLeft;
    if (cellBox.left >= left && cellBox.right <= left + scroller.clientWidth) { return; }
    // The cell in the middle of what the box shows (as far as the table's ends allow).
    scroller.scrollLeft += cellBox.left - left - Math.max(0, (scroller.clientWidth - cellBox.width) / 2);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".inline-group"), showFirstError);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
