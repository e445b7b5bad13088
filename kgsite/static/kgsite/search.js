/* kgsite: the similarity search page's progressive enhancement (templates/graph/search.html).
 *
 * 1. The node field gets an autocomplete (an ARIA 1.2 combobox with a listbox): up to 10 nodes from
 *    data-suggest-url (?term=...), best first; arrow keys, Enter, Escape and the mouse choose one. The field then
 *    shows the node's name, and the form sends the node's id, so a name several nodes share needs no second step.
 * 2. A pasted vector is too long for a URL: when the vector field is filled the form is posted instead, and the
 *    separate "Search by the pasted vector" button (for browsers without JavaScript) is removed. Otherwise the
 *    fields left empty stay out of the URL.
 *
 * Without this script the page works the same: an exact name or id resolves, an ambiguous name lists the nodes
 * it names, an unknown one lists nodes with similar names.
 */
(function () {
  "use strict";

  var form = document.getElementById("search-form");
  if (!form) { return; }
  var input = document.getElementById("id_node");
  var vector = document.getElementById("id_vector");
  var vectorButton = form.querySelector("[data-vector-button]");
  var suggestUrl = form.getAttribute("data-suggest-url");
  var MAX_SUGGESTIONS = 10;
  var DELAY_MS = 150;

  if (vectorButton) { vectorButton.remove(); }

  form.addEventListener("submit", function () {
    if (vector && vector.value.trim()) {
      form.method = "post";
      return;
    }
    // A shorter link to share: the fields left empty stay out of the URL (they mean "the default" either way).
    Array.prototype.forEach.call(form.elements, function (element) {
      if (element.name && !element.disabled && element.value === "" && element.tagName !== "BUTTON") {
        element.disabled = true;
        element.setAttribute("data-emptied", "");
      }
    });
  });
  // Back to this page from the results (the page cache keeps the disabled fields): enable them again.
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(form.querySelectorAll("[data-emptied]"), function (element) {
      element.disabled = false;
      element.removeAttribute("data-emptied");
    });
  });

  if (!input || !suggestUrl || !window.fetch) { return; }

  var chosen = null; // {id, name}: the suggestion picked, while the field still shows its name
  var items = [];
  var active = -1;
  var timer = null;
  var pending = null;

  var wrapper = document.createElement("div");
  wrapper.className = "autocomplete";
  input.parentNode.insertBefore(wrapper, input);
  wrapper.appendChild(input);
  var list = document.createElement("ul");
  list.className = "autocomplete__list";
  list.id = "id_node_listbox";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Nodes");
  list.hidden = true;
  wrapper.appendChild(list);
  var status = document.createElement("div");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  wrapper.appendChild(status);

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", list.id);

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    var options = list.children;
    for (var i = 0; i < options.length; i++) {
      options[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
    if (index >= 0 && options[index]) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({block: "nearest"});
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function choose(index) {
    var item = items[index];
    if (!item) { return; }
    chosen = {id: item.id, name: item.name};
    input.value = item.name;
    close();
  }

  function show(results) {
    items = results.slice(0, MAX_SUGGESTIONS);
    list.textContent = "";
    items.forEach(function (item, index) {
      var option = document.createElement("li");
      option.id = "id_node_option_" + index;
      option.className = "autocomplete__option";
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      var name = document.createElement("span");
      name.className = "autocomplete__name";
      name.textContent = item.name;
      var detail = document.createElement("span");
      detail.className = "autocomplete__detail";
      detail.textContent = [item.type, item.path, "id " + item.id].filter(Boolean).join(" · ");
      option.appendChild(name);
      option.appendChild(detail);
      // mousedown, not click: the input's blur would close the list first.
      option.addEventListener("mousedown", function (event) {
        event.preventDefault();
        choose(index);
      });
      list.appendChild(option);
    });
    status.textContent = items.length ? items.length + " suggestion" + (items.length === 1 ? "" : "s") : "No nodes found";
    if (items.length) {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(-1);
    } else {
      close();
    }
  }

  function lookUp() {
    var term = input.value.trim();
    if (!term) { show([]); return; }
    if (pending) { pending.abort(); }
    pending = window.AbortController ? new AbortController() : null;
    var url = suggestUrl + "?term=" + encodeURIComponent(term);
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin",
                signal: pending ? pending.signal : undefined})
      .then(function (response) { return response.ok ? response.json() : {results: []}; })
      .then(function (data) {
        if (input.value.trim() === term) { show(data.results || []); }
      })
      .catch(function () { /* aborted, or offline: the field still works as plain text */ });
  }

  input.addEventListener("input", function () {
    chosen = null;
    window.clearTimeout(timer);
    timer = window.setTimeout(lookUp, DELAY_MS);
  });

  input.addEventListener("keydown", function (event) {
    if (list.hidden) {
      if (event.key === "ArrowDown" && input.value.trim()) { lookUp(); event.preventDefault(); }
      return;
    }
    if (event.key === "ArrowDown") {
      highlight(Math.min(active + 1, items.length - 1));
      event.preventDefault();
    } else if (event.key === "ArrowUp") {
      highlight(Math.max(active - 1, -1));
      event.preventDefault();
    } else if (event.key === "Enter" && active >= 0) {
      choose(active);
      event.preventDefault();
    } else if (event.key === "Escape") {
      close();
      event.preventDefault();
    }
  });

  input.addEventListener("blur", function () { close(); });

  form.addEventListener("submit", function () {
    if (chosen && input.value === chosen.name) {
      input.value = String(chosen.id);
    }
  });
}());
