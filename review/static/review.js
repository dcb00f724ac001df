// Keyboard shortcuts for speed; every action is also a plain form or link, so nothing needs this file.
(function () {
  "use strict";
  const search = document.getElementById("search");
  const results = () => Array.from(document.querySelectorAll("#results button"));
  if (search && search.value && results().length) { results()[0].focus(); }
  document.addEventListener("keydown", (event) => {
    const typing = event.target === search;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing) {
      if (event.key === "Escape") { search.blur(); }
      return;
    }
    if (["ArrowDown", "ArrowUp"].includes(event.key) && results().length) {
      const list = results();
      const at = list.indexOf(document.activeElement);
      const next = event.key === "ArrowDown" ? Math.min(at + 1, list.length - 1) : Math.max(at - 1, 0);
      list[next].focus();
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
