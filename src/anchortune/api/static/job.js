// The live run page: events arrive as server-sent events; the stage (evaluating the base model, training, final
// evaluation, held-out answers, merging), its time left and the whole run's, curves, warnings and log update in place.
// Numbers are written the page language's way. Every piece of text is written with textContent, so data can never
// become markup.
"use strict";
(function () {
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const svgNS = "http://www.w3.org/2000/svg";
  const series = { train: [], valid: [], drift: [] };
  let maxSteps = 0;

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  const lang = document.documentElement.lang;
  const number = (v, digits) => Number(v).toLocaleString(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });

  function seconds(s) {
    if (s === null || s === undefined || !isFinite(s)) return strings.estimating;
    const m = Math.floor(s / 60), r = Math.round(s % 60);
    return m > 0 ? m + " " + strings.unit_min + " " + r + " " + strings.unit_s : Math.max(1, r) + " " + strings.unit_s;
  }

  function progress(d) {
    if (d.stage) {
      document.getElementById("stage").textContent = boot.stages[d.stage] || d.stage;
      document.getElementById("stage").dataset.stage = d.stage;
      if (d.index) document.getElementById("stage-index").textContent = "(" + d.index + "/" + d.of + ")";
    }
    if (d.max_steps) {
      document.getElementById("step").textContent = d.step;
      document.getElementById("max-steps").textContent = d.max_steps;
    }
    if (d.tokens_per_s) document.getElementById("speed").textContent = number(d.tokens_per_s, 0);
    document.getElementById("eta").textContent = seconds(d.eta_s);
    const total = d.eta_total_s !== undefined && d.eta_total_s !== null ? d.eta_total_s :
                  (d.stage && d.stage !== "training" ? d.eta_s : null);
    document.getElementById("eta-total").textContent = seconds(total);
    const bar = document.getElementById("progress");
    bar.max = 1; bar.value = d.fraction !== undefined ? d.fraction : (d.max_steps ? d.step / d.max_steps : 0);
  }

  function handle(ev) {
    const d = ev.data || {};
    if (d.max_steps) maxSteps = d.max_steps;
    if (ev.type === "progress") {
      progress(d);
      return;
    }
    if (ev.type === "metrics") {
      if ("train_loss" in d) series.train.push([d.step, d.train_loss]);
      if ("valid_loss" in d) series.valid.push([d.step, d.valid_loss]);
      // general ability (loss on general text) where the base model has it, else the answer style's drift
      if (d.text_drift !== undefined && d.text_drift !== null) series.drift.push([d.step, 100 * d.text_drift]);
      else if ("drift" in d) series.drift.push([d.step, 100 * d.drift]);
      draw();
    }
    if (ev.level === "warn" || ev.level === "error") {
      document.getElementById("warnings").appendChild(text("li", ev.message, ev.level));
      document.getElementById("no-warnings").hidden = true;
    }
    const log = document.getElementById("log");
    log.appendChild(text("li", ev.message, ev.level + " " + ev.type));
    log.scrollTop = log.scrollHeight;
  }

  function draw() {
    const svg = document.getElementById("chart");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = 640, H = 260, L = 44, R = 44, T = 12, B = 28;
    const all = series.train.concat(series.valid);
    if (!all.length) return;
    const xmax = Math.max(maxSteps, ...all.map(p => p[0]), 1);
    const ymin = Math.min(...all.map(p => p[1])), ymax = Math.max(...all.map(p => p[1]));
    const span = ymax - ymin || 1;
    const dmax = Math.max(5, ...series.drift.map(p => Math.abs(p[1])));
    const x = s => L + (W - L - R) * s / xmax;
    const y = v => T + (H - T - B) * (1 - (v - ymin) / span);
    const yd = v => T + (H - T - B) * (1 - (v + dmax) / (2 * dmax));
    const add = (name, attrs, content) => {
      const el = document.createElementNS(svgNS, name);
      for (const k in attrs) el.setAttribute(k, attrs[k]);
      if (content !== undefined) el.textContent = content;
      svg.appendChild(el);
      return el;
    };
    add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
    add("text", { x: 2, y: y(ymax) + 4, class: "tick" }, number(ymax, 2));
    add("text", { x: 2, y: y(ymin) + 4, class: "tick" }, number(ymin, 2));
    add("text", { x: W - R + 4, y: yd(dmax) + 4, class: "tick" }, "+" + number(dmax, 0) + "%");
    add("text", { x: W - R + 4, y: yd(0) + 4, class: "tick" }, "0%");
    add("text", { x: W - R - 10, y: H - 8, class: "tick" }, String(xmax));
    const line = (points, cls, fy) => {
      if (!points.length) return;
      add("polyline", { points: points.map(p => x(p[0]).toFixed(1) + "," + fy(p[1]).toFixed(1)).join(" "),
                        class: "curve " + cls });
      for (const p of points.slice(-1)) add("circle", { cx: x(p[0]), cy: fy(p[1]), r: 3, class: "dot " + cls });
    };
    line(series.train, "train", y);
    line(series.valid, "valid", y);
    line(series.drift, "drift", yd);
    svg.dataset.points = String(series.train.length + series.valid.length);
  }

  boot.events.forEach(handle);
  const final = ["succeeded", "failed", "cancelled"];
  if (final.includes(boot.status)) {
    document.getElementById("eta").textContent = "–";
    document.getElementById("eta-total").textContent = "–";
    return;
  }
  const source = new EventSource("/jobs/" + boot.job + "/stream?after=" + boot.after);
  source.addEventListener("job", e => handle(JSON.parse(e.data)));
  source.addEventListener("status", e => {
    const status = JSON.parse(e.data).status;
    const badge = document.getElementById("status");
    badge.textContent = strings["st_" + status] || status;
    badge.className = "status " + status;
    badge.dataset.status = status;
    if (final.includes(status)) { source.close(); setTimeout(() => location.reload(), 300); }
  });
})();
