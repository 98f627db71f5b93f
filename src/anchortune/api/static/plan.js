// The dataset page while its learning-curve plan trains: polls the plan's progress, shows the stage, and shows the
// plan when it is done. Writes text only (textContent), never HTML.
"use strict";
(function () {
  const line = document.getElementById("plan-progress");
  const stage = document.getElementById("plan-stage");
  const error = document.getElementById("plan-error");
  const show = (message) => { error.textContent = message; error.hidden = false; };

  pollProgress(line.dataset.url, 2000, (status) => {
    stage.textContent = status.stage;
    if (status.state === "done") window.location.reload();
    else if (status.state === "failed") show(status.error);
  }, show);
})();
