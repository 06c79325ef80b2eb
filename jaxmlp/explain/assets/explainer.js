// The trace explainer's behaviour: step through the derivation, highlight what each step uses,
// describe an edge or neuron on hover or focus, recolour the edges, scrub the training run.
"use strict";
(function () {
  const steps = Array.from(document.querySelectorAll("#steps > li"));
  const jump = document.getElementById("jump");
  const counter = document.getElementById("counter");
  const info = document.getElementById("info");
  const prev = document.getElementById("prev");
  const next = document.getElementById("next");
  let current = 0;

  function highlight(li) {
    const nodes = new Set((li.dataset.nodes || "").split(" ").filter(Boolean));
    const params = new Set((li.dataset.params || "").split(" ").filter(Boolean));
    const any = nodes.size + params.size > 0;
    document.querySelectorAll("#network .edge").forEach((g) => {
      if (params.has(g.dataset.param)) { nodes.add(g.dataset.source); nodes.add(g.dataset.target); }
    });
    document.querySelectorAll("#network .node").forEach((g) => {
      const on = nodes.has(g.dataset.name) || params.has(g.dataset.name);
      g.classList.toggle("hl", on);
      g.classList.toggle("dim", any && !on);
    });
    document.querySelectorAll("#network .edge").forEach((g) => {
      const on = params.has(g.dataset.param);
      g.classList.toggle("hl", on);
      g.classList.toggle("dim", any && !on);
    });
  }

  function show(i) {
    current = Math.max(0, Math.min(steps.length - 1, i));
    steps.forEach((li, k) => li.classList.toggle("current", k === current));
    const li = steps[current];
    highlight(li);
    jump.value = String(current);
    counter.textContent = `step ${current + 1} of ${steps.length}: ${li.dataset.section}`;
    prev.disabled = current === 0;
    next.disabled = current === steps.length - 1;
  }

  prev.addEventListener("click", () => show(current - 1));
  next.addEventListener("click", () => show(current + 1));
  jump.addEventListener("change", () => show(Number(jump.value)));
  document.addEventListener("keydown", (e) => {
    const tag = (e.target.tagName || "").toUpperCase();
    if (tag === "INPUT" || tag === "SELECT" || e.altKey || e.ctrlKey || e.metaKey) return;
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (e.key in moves) { show(current + moves[e.key]); e.preventDefault(); }
    else if (e.key === "Home") { show(0); e.preventDefault(); }
    else if (e.key === "End") { show(steps.length - 1); e.preventDefault(); }
  });

  document.querySelectorAll("#network .edge, #network .node").forEach((g) => {
    const describe = () => { info.textContent = g.getAttribute("aria-label"); };
    g.addEventListener("mouseenter", describe);
    g.addEventListener("focus", describe);
  });

  // Colour the edges by weight or by gradient: blue positive, vermillion negative, width by size.
  const byGradient = document.getElementById("colour-by");
  function recolour() {
    const key = byGradient.getAttribute("aria-pressed") === "true" ? "g" : "w";
    const edges = Array.from(document.querySelectorAll("#network .edge"));
    const value = (g) => { const v = Number(g.dataset[key]); return Number.isFinite(v) ? v : 0; };
    const top = Math.max(1e-300, ...edges.map((g) => Math.abs(value(g))));
    edges.forEach((g) => {
      const v = value(g), line = g.querySelector("line");
      line.setAttribute("stroke", v >= 0 ? "#0072B2" : "#D55E00");
      line.setAttribute("stroke-width", (1 + 4 * Math.abs(v) / top).toFixed(2));
    });
    document.getElementById("colour-note").textContent = key === "g"
      ? "Edges coloured by dE_total/dw (the gradient)." : "Edges coloured by the weight.";
  }
  byGradient.addEventListener("click", () => {
    byGradient.setAttribute("aria-pressed", byGradient.getAttribute("aria-pressed") === "true" ? "false" : "true");
    recolour();
  });

  // The seed's update order: both "after one round" errors, one shown at a time on screen.
  const order = document.getElementById("order");
  if (order) {
    order.addEventListener("click", () => {
      const on = order.getAttribute("aria-pressed") !== "true";
      order.setAttribute("aria-pressed", String(on));
      document.getElementById("order-simultaneous").hidden = on;
      document.getElementById("order-updated").hidden = !on;
    });
  }

  // The training run: a slider over the sampled steps moves the marker and fills the weights table.
  const data = JSON.parse(document.getElementById("training-data").textContent);
  const slider = document.getElementById("scrub");
  const marker = document.getElementById("train-marker");
  const readout = document.getElementById("scrub-readout");
  function scrub() {
    const k = Number(slider.value);
    marker.setAttribute("cx", data.px[k][0]);
    marker.setAttribute("cy", data.px[k][1]);
    readout.textContent = `after ${data.steps[k].toLocaleString("en")} steps: E_total = ${data.loss[k]}`;
    document.querySelectorAll("#train-weights td[data-k]").forEach((td) => {
      td.textContent = data.values[k][Number(td.dataset.k)];
    });
  }
  slider.addEventListener("input", scrub);

  show(0);
  recolour();
  scrub();
})();
