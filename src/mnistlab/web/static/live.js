// The live dashboard page: the server pushes the training's progress as server-sent events; the page shows
// the step and loads the dashboard frame (drawn server-side by mnistlab.dashboard) whenever the state moved
// past the one the picture shows. One frame request at a time, so a slow link gets fewer frames, never a
// backlog. Relative URLs: works through an SSH tunnel.
"use strict";
const img = document.getElementById("frame"), stepEl = document.getElementById("step");
const stateEl = document.getElementById("state"), pauseBtn = document.getElementById("pause");
let layout = "all", help = false, latest = null, shownView = null, shownVersion = -1, loading = false;

async function refresh() {
  if (loading || latest === null) return;
  const view = `${layout}/${help}`;
  if (view === shownView && shownVersion >= latest.version) return;
  loading = true;
  try {
    const r = await fetch(`frame.png?layout=${layout}&help=${help ? 1 : 0}`, {cache: "no-store"});
    if (!r.ok) throw new Error((await r.json()).error);
    const url = URL.createObjectURL(await r.blob());
    img.onload = () => URL.revokeObjectURL(url);
    img.src = url;
    shownView = view;
    shownVersion = parseInt(r.headers.get("X-Dashboard-Version"), 10);
    img.dataset.version = shownVersion;  // the state the picture shows (tests wait on it)
    loading = false;
    refresh();
  } catch (err) {
    stateEl.textContent = String(err.message || err);
    setTimeout(() => { loading = false; refresh(); }, 1000);
  }
}

function showStatus(s) {
  latest = s;
  img.dataset.latest = s.version;
  document.getElementById("title").textContent = s.title;
  stepEl.textContent = s.step.toLocaleString("en");
  document.getElementById("of").textContent = s.iterations ? " / " + s.iterations.toLocaleString("en") : "";
  document.getElementById("best").textContent =
    s.max_test_accuracy === null ? "" : "max test accuracy " + (100 * s.max_test_accuracy).toFixed(2) + "%";
  stateEl.textContent = s.paused ? "paused" : s.status;
  stateEl.classList.toggle("paused", s.paused);
  pauseBtn.textContent = s.paused ? "Resume" : "Pause";
  pauseBtn.disabled = s.status !== "running";
  refresh();
}

const source = new EventSource("events");
source.onmessage = e => showStatus(JSON.parse(e.data));
source.onerror = () => { stateEl.textContent = latest ? latest.status + " (server gone)" : "no connection"; };

async function control(action) {
  const r = await fetch("control", {method: "POST", headers: {"Content-Type": "application/json"},
                                    body: JSON.stringify({action})});
  if (r.ok) showStatus(await r.json());
}
pauseBtn.addEventListener("click", () => { control("toggle"); pauseBtn.blur(); });  // no double toggle by Space

// Layout buttons for touch screens; the keys below do the same.
const layoutButtons = document.getElementById("layouts");
for (const [key, label] of [["all", "all six"], ["1", "1"], ["2", "2"], ["3", "3"], ["4", "4"], ["5", "5"],
                            ["6", "6"], ["7", "digits"], ["8", "curves"], ["9", "distributions"]]) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", () => { layout = key; b.blur(); refresh(); });
  layoutButtons.appendChild(b);
}

// The window's keys: 1..9 layouts, 0 or Esc all six, Space pause, ? help.
document.addEventListener("keydown", e => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key >= "0" && e.key <= "9") layout = e.key === "0" ? "all" : e.key;
  else if (e.key === "Escape") { layout = "all"; help = false; }
  else if (e.key === "?" || e.key === "F1") help = !help;
  else if (e.key === " ") control("toggle");
  else return;
  e.preventDefault();
  refresh();
});
