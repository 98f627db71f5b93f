// Shared by the pages: local times for [data-at] cells. Writes text only (textContent), never HTML.
"use strict";
const strings = JSON.parse(document.getElementById("strings").textContent);
for (const cell of document.querySelectorAll("[data-at]")) {
  cell.textContent = new Date(Number(cell.dataset.at) * 1000).toLocaleString(document.documentElement.lang);
}

// Polls a background task's progress URL until it is done or failed: onStatus(status) after each answer,
// onError(message) when the request fails (then it tries again after 5 s); `every` ms between polls.
function pollProgress(url, every, onStatus, onError) {
  async function poll() {
    let status;
    try {
      const response = await fetch(url, {headers: {"Accept": "application/json"}});
      status = await response.json();
      if (!response.ok) throw new Error(status.error ? status.error.message : response.statusText);
    } catch (exc) {
      onError(String(exc.message || exc));
      setTimeout(poll, 5000);
      return;
    }
    onStatus(status);
    if (status.state !== "done" && status.state !== "failed") setTimeout(poll, every);
  }
  setTimeout(poll, Math.min(every, 1000));
}
