// Keyboard shortcuts and search as you type; every action is also a plain form or link, so the
// page works without this file (the search then runs when Enter submits it).
(function () {
  "use strict";
  const search = document.getElementById("search");
  const list = document.getElementById("results");
  const results = () => Array.from(document.querySelectorAll("#results button"));
  const field = (name) => document.querySelector(`input[name="${name}"]`);

  function resultItem(match) {
    // The same form the server renders for a result: a "correct" decision for this category.
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/decide";
    for (const [name, value] of [["csrf_token", field("csrf_token").value], ["request_id", field("request_id").value],
                                 ["item_id", field("item_id").value], ["verdict", "correct"],
                                 ["category_id", match.category_id]]) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    const button = document.createElement("button");
    button.type = "submit";
    button.className = "result";
    button.textContent = match.path;
    if (match.matched !== match.path) {
      const small = document.createElement("small");
      small.textContent = ` (${match.matched})`;
      button.appendChild(small);
    }
    form.appendChild(button);
    const item = document.createElement("li");
    item.appendChild(form);
    return item;
  }

  let pending = null;
  function searchAsYouType() {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const query = search.value;
      const response = await fetch(`/search?q=${encodeURIComponent(query)}`);
      if (!response.ok || search.value !== query) { return; }
      list.replaceChildren(...(await response.json()).map(resultItem));
    }, 150);
  }

  if (search && field("csrf_token")) {
    search.addEventListener("input", searchAsYouType);
    if (search.value && results().length) { results()[0].focus(); }
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.target === search) {
      if (event.key === "Escape") { search.blur(); }
      if (event.key === "ArrowDown" && results().length) { results()[0].focus(); event.preventDefault(); }
      return;
    }
    if (["ArrowDown", "ArrowUp"].includes(event.key) && results().length) {
      const buttons = results();
      const at = buttons.indexOf(document.activeElement);
      const next = event.key === "ArrowDown" ? Math.min(at + 1, buttons.length - 1) : Math.max(at - 1, 0);
      buttons[next].focus();
      event.preventDefault();
      return;
    }
    const candidate = document.querySelector(`button.candidate[data-key="${event.key}"]`);
    if (candidate) { candidate.click(); return; }
    if (event.key === "/" && search) { search.focus(); search.select(); event.preventDefault(); return; }
    const target = { c: "cannot-tell", s: "skip", n: "next" }[event.key];
    if (target && document.getElementById(target)) { document.getElementById(target).click(); }
  });
})();
