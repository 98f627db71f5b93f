// The result page's downloads: "Build" starts a download's build in the background and the row shows its progress
// until it is ready (then a Download link) or failed (with the reason). Writes text only (textContent), never HTML.
"use strict";
(function () {
  const table = document.getElementById("downloads");
  if (!table) return;
  const lang = document.documentElement.lang;
  const size = (n) => n >= 1e9 ? (n / 1e9).toLocaleString(lang, { maximumFractionDigits: 1 }) + " GB" :
    n >= 1e6 ? (n / 1e6).toLocaleString(lang, { maximumFractionDigits: 1 }) + " MB" :
    (n / 1e3).toLocaleString(lang, { maximumFractionDigits: 1 }) + " kB";

  function show(status) {
    const row = document.getElementById("dl-" + status.part);
    if (!row) return;
    row.dataset.state = status.state;
    const cell = row.querySelector(".dl-state"), bar = row.querySelector(".dl-progress");
    const stage = row.querySelector(".dl-stage");
    const building = status.state === "queued" || status.state === "running";
    bar.hidden = !building;
    bar.value = status.fraction;
    stage.textContent = building ? status.stage : "";
    cell.firstChild.textContent = status.state === "ready" ? strings.dl_ready + " (" + size(status.bytes) + ") " :
      building ? strings.dl_building + " " : status.state === "failed" ? strings.dl_failed + ": " + status.error + " " :
      strings.dl_missing + " ";
    const parity = row.querySelector(".parity");
    if (status.parity.status === "passed" || status.parity.status === "failed" || status.parity.status === "unchecked") {
      parity.className = "parity " + status.parity.status;
      parity.textContent = strings["parity_" + status.parity.status] + (status.parity.reason ? ": " + status.parity.reason : "");
    }
    const action = row.lastElementChild;
    if (status.state === "ready" && !action.querySelector("a")) {
      while (action.firstChild) action.removeChild(action.firstChild);
      const link = document.createElement("a");
      link.className = "button"; link.id = "download-" + status.part; link.textContent = strings.dl_get;
      link.href = "/jobs/" + table.dataset.url.split("/")[2] + "/download/" + status.part;
      action.appendChild(link);
    } else if (action.querySelector("button")) {
      action.querySelector("button").disabled = building;
    }
  }

  let polling = false;
  async function poll() {
    polling = true;
    try {
      const response = await fetch(table.dataset.url, { headers: { "Accept": "application/json" } });
      const all = await response.json();
      all.forEach(show);
      if (all.some(s => s.state === "queued" || s.state === "running")) { setTimeout(poll, 700); return; }
    } catch (exc) {
      setTimeout(poll, 3000); return;
    }
    polling = false;
  }

  for (const form of table.querySelectorAll("form.dl-build")) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      const response = await fetch(form.action, { method: "POST", headers: { "Accept": "application/json" },
                                                   credentials: "same-origin" });
      const body = await response.json().catch(() => ({}));
      if (response.ok) show(body);
      else {
        button.disabled = false;
        form.closest("tr").querySelector(".dl-stage").textContent = (body.error && body.error.message) || response.statusText;
      }
      if (!polling) poll();
    });
  }
  if (table.querySelector("tr[data-state=queued], tr[data-state=running]")) poll();
})();
