// The console's only script (no inline code: the CSP forbids it).  A revealed value
// hides itself again after HIDE_AFTER_MS; its Copy button copies it to the clipboard.
"use strict";
(function () {
  const HIDE_AFTER_MS = 30000;
  function arm(root) {
    root.querySelectorAll(".revealed").forEach(function (node) {
      if (node.dataset.armed) { return; }
      node.dataset.armed = "1";
      const copy = node.querySelector("button.copy");
      if (copy) {
        copy.addEventListener("click", function () {
          const code = node.querySelector("code");
          if (code && navigator.clipboard) { navigator.clipboard.writeText(code.textContent); }
        });
      }
      setTimeout(function () {
        const hidden = document.createElement("span");
        hidden.className = "hidden-value";
        hidden.textContent = "(hidden again; reload to reveal)";
        node.replaceWith(hidden);
      }, HIDE_AFTER_MS);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { arm(document); });
  document.addEventListener("htmx:afterSwap", function (event) { arm(event.detail.target.parentNode || document); });
})();
