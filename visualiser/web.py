"""The six panels live in a browser: --web [PORT] serves them on http://127.0.0.1:PORT/ (default 8000).

    python3 mnist_3.1_convolutional_bigger_dropout.py --web       # then open http://127.0.0.1:8000/
    ssh -L 8000:127.0.0.1:8000 gpu-box                           # from a laptop, for a run on gpu-box

The frames are visualiser.live's: PNGs of the window's own Panels, drawn on the main thread while the training runs
in a worker. Every page shows that one frame, so a page opened late sees every curve from iteration 0,
several pages see the same thing, and a key pressed in one page (a layout, SPACE pause, O box zoom, H reset)
changes it for all. A page polls /state (answered as soon as a newer frame exists, else after 10 s), then
loads /frame.png; when no page polls, nothing is drawn. Keys come as POST /key with this run's token, so
another web site open in the same browser cannot send them; the server binds 127.0.0.1 unless --web-host
says otherwise, and closing a page never stops the training. Standard library only (http.server).
"""
import html
import json
import re
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import panels

KEYS = {key for key, _ in panels.KEYS} | set(panels.LAYOUTS)
POLL_S = 10               # a /state request waits at most this long for a newer frame (< live.WATCHED_S)


class Server(ThreadingHTTPServer):
    """The page, its frames and its keys, in daemon threads; close() ends it."""
    daemon_threads, block_on_close = True, False

    def __init__(self, live, host="127.0.0.1", port=0):
        self.live, self.token = live, secrets.token_urlsafe(16)
        super().__init__((host, port), Handler)
        self.loopback = host in ("127.0.0.1", "localhost", "::1")
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.url = f"http://{shown}:{self.server_address[1]}/"

    def start(self):
        threading.Thread(target=self.serve_forever, name="visualiser.web", daemon=True).start()
        return self

    def close(self):
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address):     # a page closed mid-answer: nothing to report
        pass


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        live = self.server.live
        if not self.host_allowed():
            return self.answer(403, b"wrong Host", "text/plain")
        if url.path == "/":
            return self.answer(200, page(live.vis.title, self.server.token).encode(), "text/html; charset=utf-8")
        if url.path == "/state":
            since = int((urllib.parse.parse_qs(url.query).get("since") or ["0"])[0] or 0)
            live.watch()
            with live.changed:
                live.changed.wait_for(lambda: live.frames > since or live.closing, timeout=POLL_S)
                state = dict(live.state, closed=live.closing)
            return self.answer(200, json.dumps(state).encode(), "application/json")
        if url.path == "/frame.png" and live.png is not None:
            live.watch()
            return self.answer(200, live.png, "image/png")
        self.answer(404, b"not found", "text/plain")

    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 4096)))
            key = body["key"]
            ok = secrets.compare_digest(str(body.get("token")), self.server.token) and (
                key in KEYS or (isinstance(key, list) and len(key) == 4 and all(0 <= float(x) <= 1 for x in key)))
        except (ValueError, KeyError, TypeError):
            ok = False
        if self.urlpath() != "/key" or not ok:
            return self.answer(403, b"not a key of this run", "text/plain")
        self.server.live.press(("zoom", *map(float, key)) if isinstance(key, list) else key)
        self.answer(204, b"", "text/plain")

    def urlpath(self):
        return urllib.parse.urlsplit(self.path).path

    def host_allowed(self):
        """On loopback, only pages that asked for this machine by name (no DNS-rebinding from a web site)."""
        host = urllib.parse.urlsplit("//" + (self.headers.get("Host") or "")).hostname or ""
        return not self.server.loopback or host in ("127.0.0.1", "localhost", "::1")

    def answer(self, code, body, kind):
        try:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Access-Control-Allow-Origin", "*")   # the notebook's buttons (the token guards)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass                                                   # the page went away: training goes on

    def log_message(self, *args):
        pass


def run(vis, loop, host, port):
    """--web: serve the live panels until the training ends and then until Q or Ctrl-C."""
    from . import live as rendering
    live = rendering.Live(vis, loop)
    try:
        server = Server(live, host, port).start()
    except OSError as e:
        raise SystemExit(f"tensorflowvisu: cannot serve on {host}:{port} ({e.strerror}); give another port "
                         "(--web 8001) or --web 0 for any free one") from None
    print(f"tensorflowvisu: the panels are live at {server.url} (keys as in the window; Ctrl-C ends)", flush=True)
    try:
        live.run(linger=True)
    finally:
        server.close()


def page(title, token):
    fill = {"{{TITLE}}": html.escape(title), "{{TITLE_JS}}": json.dumps(title), "{{TOKEN_JS}}": json.dumps(token),
            "{{BUTTONS}}": json.dumps(BUTTONS), "{{KEYS_JS}}": KEYS_JS}
    return re.sub("|".join(map(re.escape, fill)), lambda m: fill[m.group(0)], PAGE)


def controls_html(base, token):
    """The buttons the notebook shows above its image: the window's keys, sent to the kernel's Server (the
    cell is busy while the training runs, so widget messages would only arrive once it is over)."""
    buttons = "".join(f'<button data-key="{k}" title="key {n}">{n} {label}</button> ' for k, n, label in BUTTONS)
    uid = "tfv-" + secrets.token_hex(4)
    return (f'<div class="tfv" id="{uid}" tabindex="0" style="font:13px sans-serif;padding:4px 0">{buttons}'
            '<small>(or click here and press the keys)</small> <span class="tfv-note"></span></div>'
            f'<script>(function () {{{KEYS_JS} const root = document.getElementById("{uid}");'
            f'tfvControls(root, root, {json.dumps(base)}, {json.dumps(token)}); }})();</script>')


BUTTONS = [(key, *label.split(" ", 1)) for key, label in panels.KEYS]     # (key, what it is called, label)

# The keys of the window, in JavaScript: tfvControls(buttons, keyTarget, base, token) wires both the buttons
# (data-key) and the keyboard to POST base + "key"; O and Ctrl-S are the page's own (zoom box, download).
KEYS_JS = """
function tfvControls(root, target, base, token) {
  const note = root.querySelector(".tfv-note");
  const send = (key) => (key === "q" && !confirm("Stop the training?")) ? null :
    fetch(base + "key", {method: "POST", body: JSON.stringify({token: token, key: key})})
    .then((r) => { if (note) note.textContent = r.ok ? "" : "refused"; })
    .catch(() => { if (note) note.textContent = "the run is over, or its machine cannot be reached from here"; });
  root.querySelectorAll("button[data-key]").forEach((b) => { b.onclick = () => send(b.dataset.key); });
  target.addEventListener("keydown", (e) => {
    if (e.altKey || e.metaKey || e.ctrlKey) return;
    let k = e.key === "Escape" ? "escape" : e.key.toLowerCase();
    if (/^[0-9]$/.test(k) || ["escape", " ", "h", "q"].includes(k)) { e.preventDefault(); send(k); }
  });
  return send;
}
"""

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{TITLE}}</title>
<style>
 body { margin: 0; font: 14px sans-serif; background: #f4f4f6; }
 header { padding: 6px 10px; display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
 #status { color: #333; } #status.paused { color: #c00; font-weight: bold; }
 .tfv { padding: 0 10px 6px; } button { font-size: 12px; }
 #wrap { position: relative; margin: 0 10px; } #frame { width: 100%; max-width: 1280px; display: block; }
 #wrap.zoom { cursor: crosshair; } #box { position: absolute; border: 1px dashed #000; display: none; }
</style></head><body>
<header><b>{{TITLE}}</b><span id="status">waiting for the first frame</span>
 <small>keys as in the window: 1-6 one panel, 7 the curves (1+2), 8 the bands (4+5), 9 the digits (3+6), 0 or ESC
 all six, SPACE pause, O box zoom, H reset, Ctrl-S save, Q stop</small></header>
<div class="tfv" id="controls"><span class="tfv-note"></span></div>
<div id="wrap"><img id="frame" data-frame="0" alt="the six panels"><div id="box"></div></div>
<script>
{{KEYS_JS}}
const BUTTONS = {{BUTTONS}};
const controls = document.getElementById("controls");
BUTTONS.forEach(([k, n, label]) => { const b = document.createElement("button"); b.dataset.key = k;
  b.textContent = n + " " + label; controls.insertBefore(b, controls.lastElementChild); });
const send = tfvControls(controls, document, "", {{TOKEN_JS}});
const img = document.getElementById("frame"), wrap = document.getElementById("wrap"),
      box = document.getElementById("box"), status = document.getElementById("status");
let zooming = false, start = null;
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
    e.preventDefault();
    const a = document.createElement("a");
    a.href = img.src;
    a.download = {{TITLE_JS}} + "-" + img.dataset.iteration + ".png";
    a.click();
  } else if (!e.ctrlKey && !e.metaKey && !e.altKey && e.key.toLowerCase() === "o") {
    zooming = !zooming; wrap.classList.toggle("zoom", zooming);
  }
});
const clip = (x) => Math.min(Math.max(x, 0), 1);
const at = (e) => { const r = img.getBoundingClientRect();        // fractions of the image, from its top left
  return [clip((e.clientX - r.left) / r.width), clip((e.clientY - r.top) / r.height)]; };
wrap.addEventListener("mousedown", (e) => { if (zooming) { e.preventDefault(); start = at(e); } });
window.addEventListener("mousemove", (e) => { if (!start) return; const p = at(e), r = img.getBoundingClientRect();
  Object.assign(box.style, {display: "block", left: Math.min(p[0], start[0]) * r.width + "px",
    top: Math.min(p[1], start[1]) * r.height + "px", width: Math.abs(p[0] - start[0]) * r.width + "px",
    height: Math.abs(p[1] - start[1]) * r.height + "px"}); });
window.addEventListener("mouseup", (e) => { if (!start) return; const p = at(e); box.style.display = "none";
  if (Math.abs(p[0] - start[0]) > 0.005 && Math.abs(p[1] - start[1]) > 0.005) send([start[0], start[1], p[0], p[1]]);
  start = null; });
const pct = (a) => (100 * a).toFixed(2) + "%";
function show(s) {
  status.textContent = ["iteration " + s.iteration.toLocaleString("en"), s.test_accuracy === null ? "" :
    "test accuracy " + pct(s.test_accuracy) + " (max " + pct(s.max_accuracy) + ")",
    s.paused ? "PAUSED (SPACE resumes)" : "", s.message, s.closed ? "the run has ended: this is its last frame" : ""]
    .filter(Boolean).join(" · ");
  status.className = s.paused ? "paused" : "";
}
async function poll() {
  let since = 0;
  for (;;) {
    try {
      const s = await (await fetch("state?since=" + since, {cache: "no-store"})).json();
      if (s.frame > since) {
        await new Promise((ok) => { img.onload = img.onerror = ok; img.src = "frame.png?f=" + s.frame; });
        Object.assign(img.dataset, {frame: s.frame, iteration: s.iteration, layout: s.layout, paused: s.paused});
        since = s.frame;
      }
      show(s);
      if (s.closed) return;
    } catch (e) {
      status.textContent = "the run has ended or cannot be reached: this is its last frame";
      return;
    }
  }
}
poll();
</script></body></html>
"""
