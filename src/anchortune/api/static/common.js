// Shared by the pages: local times for [data-at] cells. Writes text only (textContent), never HTML.
"use strict";
const strings = JSON.parse(document.getElementById("strings").textContent);
for (const cell of document.querySelectorAll("[data-at]")) {
  cell.textContent = new Date(Number(cell.dataset.at) * 1000).toLocaleString(document.documentElement.lang);
}
