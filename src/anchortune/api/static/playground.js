// The playground: one message to the base and the tuned model, answers streamed side by side (textContent only);
// then 👍 / 👎 / an edited answer, each saved as a preference pair (app/feedback.py).
"use strict";
(function () {
  const form = document.getElementById("chat-form");
  if (!form) return;
  const select = document.getElementById("tuned-model");
  const baseName = document.getElementById("base-name");
  const showBase = () => { baseName.textContent = select.selectedOptions[0].dataset.parent; };
  select.addEventListener("change", showBase);
  showBase();

  async function ask(model, message, target) {
    target.textContent = "…";
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ model: model, messages: [{ role: "user", content: message }], stream: true,
                             max_tokens: 200 }) });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      target.textContent = (body.error && body.error.message) || response.statusText;
      target.classList.add("error");
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", answer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const parts = buffer.split("\n\n");
      buffer = parts.pop();
      for (const part of parts) {
        const data = part.replace(/^data: /, "");
        if (data === "[DONE]") continue;
        const delta = JSON.parse(data).choices[0].delta;
        if (delta.content) { answer += delta.content; target.textContent = answer; }
      }
    }
    target.textContent = answer.trim();
    target.dataset.done = "1";
  }

  // feedback: 👍, 👎 and an edited answer, each a preference pair in the studio's feedback collection
  const box = document.getElementById("feedback"), editor = document.getElementById("editor");
  const edited = document.getElementById("edited"), problem = document.getElementById("feedback-error");
  let shown = null;  // {prompt, answer, other}: what the two models answered last

  async function judge(rating, correction) {
    problem.hidden = true;
    const response = await fetch("/playground/feedback", {
      method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ ...shown, rating: rating, edited: correction || null }) });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      problem.textContent = (body.error && body.error.message) || response.statusText;
      problem.hidden = false;
      return;
    }
    const status = document.getElementById("feedback-status");
    document.getElementById("feedback-count").textContent = String(body.pairs);
    status.dataset.count = String(body.pairs);
    document.getElementById("review-feedback").disabled = false;
    box.hidden = true;
    editor.hidden = true;
  }
  document.getElementById("thumbs-up").addEventListener("click", () => judge("up"));
  document.getElementById("thumbs-down").addEventListener("click", () => {  // then: edit, or save as it is
    editor.hidden = false;
    editor.dataset.rating = "down";
    edited.focus();
  });
  document.getElementById("edit-answer").addEventListener("click", () => {
    editor.hidden = false;
    editor.dataset.rating = "down";
    edited.focus();
  });
  document.getElementById("save-edit").addEventListener("click", () =>
    judge(editor.dataset.rating || "down", edited.value));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const message = document.getElementById("message").value;
    const tuned = select.value, base = select.selectedOptions[0].dataset.parent;
    const baseOut = document.getElementById("base-answer"), tunedOut = document.getElementById("tuned-answer");
    delete baseOut.dataset.done; delete tunedOut.dataset.done;
    document.getElementById("send").disabled = true;
    box.hidden = true;
    editor.hidden = true;
    try {
      await ask(base, message, baseOut);
      await ask(tuned, message, tunedOut);
      if (tunedOut.dataset.done) {
        shown = { prompt: message, answer: tunedOut.textContent, other: baseOut.dataset.done ? baseOut.textContent : null };
        edited.value = tunedOut.textContent;
        box.hidden = false;
      }
    } finally {
      document.getElementById("send").disabled = false;
    }
  });
})();
