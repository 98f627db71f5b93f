// The dataset page while a long quality check runs: polls its progress and shows the report when it is done.
// Writes text only (textContent), never HTML.
"use strict";
(function () {
  const card = document.getElementById("checking");
  const bar = document.getElementById("check-progress");
  const stage = document.getElementById("check-stage");
  const percent = document.getElementById("check-percent");
  const error = document.getElementById("check-error");
  const show = (message) => { error.textContent = message; error.hidden = false; };

  pollProgress(card.dataset.progress, 1000, (status) => {
    card.dataset.state = status.state;
    const value = Math.round(100 * status.fraction);
    bar.value = value;
    percent.textContent = String(value);
    stage.textContent = status.stage;
    if (status.state === "done") window.location.reload();
    else if (status.state === "failed") show(status.error);
  }, show);
})();
