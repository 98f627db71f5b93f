// The dataset page while its learning-curve plan trains: polls the plan's progress, shows the stage, and shows the
// plan when it is done. Writes text only (textContent), never HTML.
"use strict";
(function () {
  const line = document.getElementById("plan-progress");
  const stage = document.getElementById("plan-stage");
  const error = document.getElementById("plan-error");

  async function poll() {
    let status;
    try {
      const response = await fetch(line.dataset.url, {headers: {"Accept": "application/json"}});
      status = await response.json();
      if (!response.ok) throw new Error(status.error ? status.error.message : response.statusText);
    } catch (exc) {
      error.textContent = String(exc.message || exc);
      error.hidden = false;
      setTimeout(poll, 5000);
      return;
    }
    stage.textContent = status.stage;
    if (status.state === "done") {
      window.location.reload();
    } else if (status.state === "failed") {
      error.textContent = status.error;
      error.hidden = false;
    } else {
      setTimeout(poll, 2000);
    }
  }
  setTimeout(poll, 1000);
})();
