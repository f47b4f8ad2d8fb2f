// The draw-a-digit page: strokes on a canvas, the canvas as a PNG to POST v1/predict (the same preprocessing
// as `mnistlab predict`), the answer as a digit, ten probability bars and the 28x28 image the model saw.
// URLs are relative, so the page works behind an SSH tunnel or a path prefix.
"use strict";
const pad = document.getElementById("pad"), ctx = pad.getContext("2d");
const seen = document.getElementById("seen"), seenCtx = seen.getContext("2d");
const digitEl = document.getElementById("digit"), confEl = document.getElementById("confidence");
const statusEl = document.getElementById("status"), bars = document.getElementById("bars");
let drawing = false, last = null, inFlight = false, pending = false, drawn = false;

const rows = [];
for (let d = 0; d < 10; d++) {
  const row = document.createElement("div");
  row.className = "bar";
  row.innerHTML = `<span class="label">${d}</span><span class="track"><span class="fill"></span></span><span class="value">0%</span>`;
  bars.appendChild(row);
  rows.push(row);
}

function clear() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  seenCtx.clearRect(0, 0, 28, 28);
  digitEl.textContent = "?";
  confEl.textContent = "";
  statusEl.textContent = "";
  rows.forEach(r => show(r, 0, false));
  drawn = false;
}

function show(row, p, best) {
  row.querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
  row.querySelector(".value").textContent = (100 * p).toFixed(p < 0.1 ? 1 : 0) + "%";
  row.classList.toggle("best", best);
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

function stroke(to) {
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 20;  // ~2 MNIST pixels once the digit is scaled into its 20x20 box
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(...(last || to));
  ctx.lineTo(...to);
  ctx.stroke();
  last = to;
  drawn = true;
}

pad.addEventListener("pointerdown", e => {
  drawing = true;
  last = null;
  pad.setPointerCapture(e.pointerId);
  stroke(point(e));
  predict();
});
pad.addEventListener("pointermove", e => {
  if (!drawing) return;
  stroke(point(e));
  predict();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => { if (drawing) { drawing = false; predict(); } });
}
document.getElementById("clear").addEventListener("click", clear);

// At most one request in flight; strokes made meanwhile are sent once it returns, so the answer
// follows the drawing live without queueing stale images.
async function predict() {
  if (!drawn) return;
  if (inFlight) { pending = true; return; }
  inFlight = true;
  pending = false;
  try {
    const blob = await new Promise(resolve => pad.toBlob(resolve, "image/png"));
    const form = new FormData();
    form.append("file", blob, "canvas.png");
    const response = await fetch("v1/predict", {method: "POST", body: form});
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    render(answer.predictions[0]);
    statusEl.textContent = "";
  } catch (err) {
    statusEl.textContent = String(err.message || err);
  } finally {
    inFlight = false;
    if (pending && drawn) predict();
  }
}

function render(p) {
  const probs = p.probabilities;
  digitEl.textContent = p["class"];
  confEl.textContent = (100 * probs[p["class"]]).toFixed(1) + "%";
  probs.forEach((v, d) => show(rows[d], v, d === p["class"]));
  const img = seenCtx.createImageData(28, 28);
  p.image.flat().forEach((v, i) => {
    const g = Math.round(255 * v);
    img.data.set([g, g, g, 255], 4 * i);
  });
  seenCtx.putImageData(img, 0, 0);
}

fetch("health").then(r => r.json()).then(h => {
  document.getElementById("model").textContent =
    `${h.recipe} (${h.run}${h.test_accuracy ? ", test accuracy " + (100 * h.test_accuracy).toFixed(2) + "%" : ""})`;
}).catch(() => {});
clear();
