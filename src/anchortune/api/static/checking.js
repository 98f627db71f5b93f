// The dataset page while a long quality check runs: polls its progress and shows the report when it is done.
// Writes text only (textContent), never HTML.
"use strict";
(function () {
  const card = document.getElementById("checking");
  const bar = document.getElementById("check-progress");
  const stage = document.getElementById("check-stage");
  const percent = document.getElementById("check-percent");
  const error = document.getElementById("check-error");

  async function poll() {
    let status;
    try {
      const response = await fetch(card.dataset.progress, {headers: {"Accept": "application/json"}});
      status = await response.json();
      if (!response.ok) throw new Error(status.error ? status.error.message : response.statusText);
    } catch (exc) {
      error.textContent = String(exc.message || exc);
      error.hidden = false;
      setTimeout(poll, 5000);
      return;
    }
    card.dataset.state = status.state;
    const value = Math.round(100 * status.fraction);
    bar.value = value;
    percent.textContent = String(value);
    stage.textContent = status.stage;
    if (status.state === "done") {
      window.location.reload();
    } else if (status.state === "failed") {
      error.textContent = status.error;
      error.hidden = false;
    } else {
      setTimeout(poll, 1000);
    }
  }
  setTimeout(poll, 500);
})();
