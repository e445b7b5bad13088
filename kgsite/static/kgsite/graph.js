/* kgsite: pan and zoom of the neighbourhood picture (graph/presentation/graph_svg.py), on top of graph.css.
 *
 * For each container (class="kg-graph" or data-pan-zoom) holding an <svg class="kg-graph__svg">:
 * 1. Buttons to zoom in, zoom out and fit the whole picture again; the mouse wheel zooms around the pointer.
 * 2. Once zoomed in, dragging (mouse, pen or one finger) pans; a drag does not follow the link it started on.
 *    Before that a finger scrolls the page as usual.
 * 3. From 1.8× on, the labels hidden for lack of room show (.kg-graph--zoomed).
 * 4. Pointing at or focusing a node highlights its relationships.
 *
 * Only the viewBox changes: the drawing is the server's. Without this script the picture is fitted to the width and
 * every node is still a link; the browser's own zoom does the rest.
 */
(function () {
  "use strict";

  var MAX_ZOOM = 8;
  var STEP = 1.5;
  var DRAG_THRESHOLD = 4;  // px the pointer moves before a press becomes a drag
  var REVEAL_AT = 1.8;

  function setUp(figure) {
    var svg = figure.querySelector("svg.kg-graph__svg");
    if (!svg || !svg.viewBox || !svg.viewBox.baseVal) { return; }
    var base = svg.viewBox.baseVal;
    var full = { x: base.x, y: base.y, width: base.width, height: base.height };
    if (!full.width || !full.height) { return; }
    var view = { x: full.x, y: full.y, width: full.width, height: full.height };

    function zoom() { return full.width / view.width; }

    function apply() {
      // Keep the view inside the picture: zoomed out as far as it goes, it is the whole picture again.
      view.width = Math.min(view.width, full.width);
      view.height = Math.min(view.height, full.height);
      view.x = Math.min(Math.max(view.x, full.x), full.x + full.width - view.width);
      view.y = Math.min(Math.max(view.y, full.y), full.y + full.height - view.height);
      svg.setAttribute("viewBox", [view.x, view.y, view.width, view.height].map(function (n) {
        return Math.round(n * 100) / 100;
      }).join(" "));
      figure.classList.toggle("kg-graph--pannable", zoom() > 1.001);
      figure.classList.toggle("kg-graph--zoomed", zoom() >= REVEAL_AT);
      zoomOut.disabled = zoom() <= 1.001;
      reset.disabled = zoom() <= 1.001;
      zoomIn.disabled = zoom() >= MAX_ZOOM - 0.001;
    }

    // The picture's point under a point of the screen (the viewBox as it is now).
    function pictureAt(clientX, clientY) {
      var matrix = svg.getScreenCTM();
      if (!matrix) { return { x: view.x + view.width / 2, y: view.y + view.height / 2 }; }
      var point = svg.createSVGPoint();
      point.x = clientX;
      point.y = clientY;
      var result = point.matrixTransform(matrix.inverse());
      return { x: result.x, y: result.y };
    }

    function zoomBy(factor, around) {
      var target = Math.min(Math.max(zoom() * factor, 1), MAX_ZOOM);
      var centre = around || { x: view.x + view.width / 2, y: view.y + view.height / 2 };
      var width = full.width / target;
      var height = full.height / target;
      // The point under the pointer stays where it is.
      view.x = centre.x - (centre.x - view.x) * (width / view.width);
      view.y = centre.y - (centre.y - view.y) * (height / view.height);
      view.width = width;
      view.height = height;
      apply();
    }

    function button(label, text, action) {
      var element = document.createElement("button");
      element.type = "button";
      element.textContent = text;
      element.setAttribute("aria-label", label);
      element.title = label;
      element.addEventListener("click", action);
      return element;
    }

    var controls = document.createElement("div");
    controls.className = "kg-graph__controls";
    var zoomIn = button("Zoom in", "+", function () { zoomBy(STEP); });
    var zoomOut = button("Zoom out", "\u2212", function () { zoomBy(1 / STEP); });
    var reset = button("Show the whole picture", "\u2922", function () {
      view = { x: full.x, y: full.y, width: full.width, height: full.height };
      apply();
    });
    controls.appendChild(zoomIn);
    controls.appendChild(zoomOut);
    controls.appendChild(reset);
    figure.insertBefore(controls, figure.firstChild);

    svg.addEventListener("wheel", function (event) {
      if (event.deltaY === 0) { return; }
      // Zoomed all the way out, scrolling down goes on scrolling the page.
      if (event.deltaY > 0 && zoom() <= 1.001) { return; }
      event.preventDefault();
      var factor = Math.pow(1.0015, -event.deltaY * (event.deltaMode === 1 ? 16 : 1));
      zoomBy(factor, pictureAt(event.clientX, event.clientY));
    }, { passive: false });

    var drag = null;
    var suppressClick = false;
    svg.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || zoom() <= 1.001) { return; }
      drag = { id: event.pointerId, startX: event.clientX, startY: event.clientY, x: view.x, y: view.y, moved: false };
    });
    svg.addEventListener("pointermove", function (event) {
      if (!drag || event.pointerId !== drag.id) { return; }
      var dx = event.clientX - drag.startX;
      var dy = event.clientY - drag.startY;
      if (!drag.moved) {
        if (Math.abs(dx) < DRAG_THRESHOLD && Math.abs(dy) < DRAG_THRESHOLD) { return; }
        drag.moved = true;
        svg.setPointerCapture(event.pointerId);
        figure.classList.add("kg-graph--panning");
      }
      var matrix = svg.getScreenCTM();
      var scale = matrix ? matrix.a : 1;  // screen px per picture unit
      view.x = drag.x - dx / scale;
      view.y = drag.y - dy / scale;
      apply();
    });
    function endDrag(event) {
      if (!drag || event.pointerId !== drag.id) { return; }
      suppressClick = drag.moved;
      drag = null;
      figure.classList.remove("kg-graph--panning");
    }
    svg.addEventListener("pointerup", endDrag);
    svg.addEventListener("pointercancel", endDrag);
    // A drag that ends on a node is not a click on its link.
    svg.addEventListener("click", function (event) {
      if (suppressClick) {
        event.preventDefault();
        event.stopPropagation();
        suppressClick = false;
      }
    }, true);

    // A node's relationships stand out while it is pointed at or focused.
    var edges = svg.querySelectorAll(".kg-edge");
    function highlight(node) {
      var id = node ? node.getAttribute("data-node-id") : null;
      figure.classList.toggle("kg-graph--focusing", id !== null);
      Array.prototype.forEach.call(edges, function (edge) {
        edge.classList.toggle("kg-edge--highlighted", id !== null &&
          (edge.getAttribute("data-source-id") === id || edge.getAttribute("data-target-id") === id));
      });
    }
    function nodeOf(event) { return event.target.closest ? event.target.closest(".kg-node") : null; }
    svg.addEventListener("mouseover", function (event) { highlight(nodeOf(event)); });
    svg.addEventListener("mouseleave", function () { highlight(null); });
    svg.addEventListener("focusin", function (event) { highlight(nodeOf(event)); });
    svg.addEventListener("focusout", function () { highlight(null); });

    apply();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".kg-graph, [data-pan-zoom]"), function (container) {
    container.classList.add("kg-graph");  // graph.css places the controls relative to it
    setUp(container);
  });
})();
