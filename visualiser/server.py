"""The HTTP server of the --web page and of the notebook's buttons: the page, its frames and its keys, for
any `display` object with press(key), watch(), and the last frame as png, frames (its number), state (a
dict), changed (a Condition notified at each new frame) and closing (visualiser.display.Display has them).
A leaf: standard library only (http.server), and the keys' list from visualiser.panels.

Every page shows the display's one frame, so a page opened late sees every curve from iteration 0, several
pages see the same thing, and a key pressed in one page (a layout, SPACE pause, O box zoom, H reset) changes
it for all. A page polls /state (answered as soon as a newer frame exists, else after 10 s), then loads
/frame.png; when no page polls, nothing is drawn. Closing a page never stops the training.

What guards what:
- The keys (POST /key) need this run's token, which only the page carries, and a browser lets only the
  page's own origin read the page: no answer has an Access-Control-Allow-Origin header, so another web site
  open in the same browser can send requests here but read none of the answers (Cross-Origin-Resource-Policy
  also keeps /state and /frame.png out of its <img>s, frame-ancestors keeps the page out of its frames).
- A key from a page of another origin is refused (403) even with the right token: browsers send an Origin
  header with every POST, and it must name this server as the request's Host does (http or https, so an
  ssh -L tunnel on another port works). A form a site posts here is refused the same way.
- On loopback, the Host header must be 127.0.0.1, localhost or ::1: a web site that points its own name at
  127.0.0.1 (DNS rebinding) is refused before anything is served. --web-host 0.0.0.0 gives that up, and
  anyone who can reach the port can watch and press keys, as its --help says.
- The notebook's buttons are the one cross-origin caller (Jupyter's page at http://localhost:8888 posts
  to http://127.0.0.1:PORT/key): its Server is keys_only, answers POST /key alone (every other request 405),
  so no page or state of it carries the token, which lives only in the notebook's output; only that answer,
  which holds nothing, has Access-Control-Allow-Origin: *. The buttons send a text/plain body, a CORS-simple
  request, so no preflight is needed.
- Every request is answered, with one line of text for an error: the request line, headers and body must
  arrive within REQUEST_S (else 408; a client that trickles a byte at a time is cut off the same way; a
  connection that sent nothing at all is closed without an answer: browsers open a spare connection ahead of
  their next request, and a 408 waiting on it could be read as that request's answer), a
  body is at most MAX_BODY bytes and must match its Content-Length, a bad query value is a 400, any method
  but GET and POST a 405 with Allow. Each connection has its own thread, so a slow client holds only its own.
"""
import html
import io
import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import panels

KEYS = {key for key, _ in panels.KEYS} | set(panels.LAYOUTS)
POLL_S = 10               # a /state request waits at most this long for a newer frame (< display.WATCHED_S)
REQUEST_S = 5.0           # a whole request (line, headers, body) must arrive within this; a browser's takes ~1 ms
WRITE_S = 10.0            # an answer (a frame is ~100-300 KB) must be taken within this
MAX_BODY = 4096           # a key's body is ~60 bytes
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Server(ThreadingHTTPServer):
    """The page, its frames and its keys, in daemon threads; close() ends it. keys_only: POST /key alone,
    with Access-Control-Allow-Origin: * (the notebook's buttons, on Jupyter's page)."""
    daemon_threads, block_on_close = True, False
    request_queue_size = 64    # connections not yet accepted (socketserver's 5 drops a burst of page loads)

    def __init__(self, display, host="127.0.0.1", port=0, keys_only=False):
        self.display, self.token, self.keys_only = display, secrets.token_urlsafe(16), keys_only
        super().__init__((host, port), Handler)
        self.loopback = host in LOOPBACK
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.url = f"http://{shown}:{self.server_address[1]}/"
        self.methods = ("POST",) if keys_only else ("GET", "POST")

    def start(self):
        threading.Thread(target=self.serve_forever, name="visualiser.web", daemon=True).start()
        return self

    def close(self):
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address):     # a page closed mid-answer: nothing to report
        pass


class Deadline(io.RawIOBase):
    """A socket's reads, each allowed only what is left of one deadline: a client that sends nothing and one
    that trickles a byte every few seconds are both cut off at REQUEST_S (TimeoutError)."""

    def __init__(self, sock, seconds):
        self.sock, self.until, self.received = sock, time.monotonic() + seconds, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request is late")
        self.sock.settimeout(left)
        n = self.sock.recv_into(buffer)
        self.received += n
        return n


class Handler(BaseHTTPRequestHandler):
    """One request per connection (HTTP/1.0), answered in one line of text when it is refused."""
    default_request_version = "HTTP/1.0"     # a request line without a version gets a status line too (not 0.9)

    def setup(self):
        super().setup()
        self.rfile.close()              # the socket's own file, replaced by one with the deadline
        self.rfile = io.BufferedReader(Deadline(self.connection, REQUEST_S))

    def handle_one_request(self):
        """http.server's, with a 408 for a late request and a 405 (not an HTML 501) for other methods."""
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.0"
        self.close_connection = True
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                return self.answer(414, "the request line is too long")
            if not self.raw_requestline or not self.parse_request():   # parse_request answers its own errors
                return
            methods = self.server.methods
            if self.command not in methods:
                return self.answer(405, f"{self.command} is not served here: {' or '.join(methods)} only",
                                   headers={"Allow": ", ".join(methods)})
            if not self.host_allowed():
                return self.answer(403, "wrong Host: ask for 127.0.0.1 or localhost")
            (self.get if self.command == "GET" else self.post)()
        except TimeoutError:
            if self.rfile.raw.received:          # a request begun; a silent connection is closed unanswered
                self.answer(408, f"the request did not arrive within {REQUEST_S:g} s")

    def send_error(self, code, message=None, explain=None):     # parse_request's errors: one line, no HTML
        self.answer(code, message or self.responses.get(code, ("bad request",))[0])

    def get(self):
        url = urllib.parse.urlsplit(self.path)
        display = self.server.display
        if url.path == "/":
            return self.answer(200, page(display.vis.title, self.server.token).encode(), "text/html; charset=utf-8",
                               {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"})
        if url.path == "/state":
            since = (urllib.parse.parse_qs(url.query, keep_blank_values=True).get("since") or ["0"])[-1]
            if not re.fullmatch(r"[0-9]{1,18}", since):
                return self.answer(400, f"since={since[:40]!r}: give a frame number (a whole number, 0 or more)")
            display.watch()
            with display.changed:
                display.changed.wait_for(lambda: display.frames > int(since) or display.closing, timeout=POLL_S)
                state = dict(display.state, closed=display.closing)
            return self.answer(200, json.dumps(state, allow_nan=False).encode(), "application/json")
        png = display.png if url.path == "/frame.png" else None     # encoded here, at the first request
        if png is not None:
            display.watch()
            return self.answer(200, png, "image/png")
        self.answer(404, "not found")

    def post(self):
        cors = {"Access-Control-Allow-Origin": "*"} if self.server.keys_only else {}   # holds nothing secret
        if urllib.parse.urlsplit(self.path).path != "/key":
            return self.answer(404, "not found", headers=cors)
        origin = self.headers.get("Origin")
        if not self.server.keys_only and origin is not None and not self.same_origin(origin):
            return self.answer(403, "a page of another origin cannot send keys to this run")
        length = self.headers.get("Content-Length")
        if length is None:
            return self.answer(411, "a key needs a Content-Length", headers=cors)
        if not re.fullmatch(r"[0-9]{1,18}", length.strip()):
            return self.answer(400, "Content-Length is not a number of bytes", headers=cors)
        if int(length) > MAX_BODY:
            return self.answer(413, f"a key's body is at most {MAX_BODY} bytes", headers=cors)
        raw = self.rfile.read(int(length))           # a body shorter than announced: 408 at the deadline
        if len(raw) < int(length):
            return self.answer(400, "the body is shorter than its Content-Length", headers=cors)
        try:
            body = json.loads(raw)
            key = body["key"]
            ok = secrets.compare_digest(str(body.get("token")), self.server.token) and (
                key in KEYS or (isinstance(key, list) and len(key) == 4 and all(0 <= float(x) <= 1 for x in key)))
        except (ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            return self.answer(403, "not a key of this run", headers=cors)
        self.server.display.press(("zoom", *map(float, key)) if isinstance(key, list) else key)
        self.answer(204, b"", headers=cors)

    def host_allowed(self):
        """On loopback, only pages that asked for this machine by name (no DNS-rebinding from a web site)."""
        return not self.server.loopback or self.hostname() in LOOPBACK

    def hostname(self):
        return urllib.parse.urlsplit("//" + (self.headers.get("Host") or "")).hostname or ""

    def same_origin(self, origin):
        """The page that sent this is served by this server: its origin is the Host the request was sent to."""
        host = (self.headers.get("Host") or "").strip().lower()
        return bool(host) and origin.strip().lower() in (f"http://{host}", f"https://{host}")

    def answer(self, code, body, kind="text/plain; charset=utf-8", headers=None):
        """body: bytes as they are, or a str of one line (a newline is added)."""
        if isinstance(body, str):
            body = (body + "\n").encode()
        try:
            self.connection.settimeout(WRITE_S)
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            if not self.server.keys_only:
                self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass                                       # the page went away (or never read): training goes on

    def log_message(self, *args):
        pass


def page(title, token):
    fill = {"{{TITLE}}": html.escape(title), "{{TITLE_JS}}": json.dumps(title), "{{TOKEN_JS}}": json.dumps(token),
            "{{BUTTONS}}": json.dumps(BUTTONS), "{{KEYS_JS}}": KEYS_JS}
    return re.sub("|".join(map(re.escape, fill)), lambda m: fill[m.group(0)], PAGE)


def controls_html(base, token):
    """The buttons the notebook shows above its image: the window's keys, sent to the kernel's keys_only
    Server (the cell is busy while the training runs, so widget messages would only arrive once it is over)."""
    buttons = "".join(f'<button data-key="{k}" title="key {n}">{n} {label}</button> ' for k, n, label in BUTTONS)
    uid = "tfv-" + secrets.token_hex(4)
    return (f'<div class="tfv" id="{uid}" tabindex="0" style="font:13px sans-serif;padding:4px 0">{buttons}'
            '<small>(or click here and press the keys)</small> <span class="tfv-note"></span></div>'
            f'<script>(function () {{{KEYS_JS} const root = document.getElementById("{uid}");'
            f'tfvControls(root, root, {json.dumps(base)}, {json.dumps(token)}); }})();</script>')


BUTTONS = [(key, *label.split(" ", 1)) for key, label in panels.KEYS]     # (key, what it is called, label)

# The keys of the window, in JavaScript: tfvControls(buttons, keyTarget, base, token) wires both the buttons
# (data-key) and the keyboard to POST base + "key"; O and Ctrl-S are the page's own (zoom box, download).
# The body goes as text/plain, which keeps the notebook's cross-origin POST a CORS-simple one: no preflight.
KEYS_JS = """
function tfvControls(root, target, base, token) {
  const note = root.querySelector(".tfv-note");
  const send = (key) => (key === "q" && !confirm("Stop the training?")) ? null :
    fetch(base + "key", {method: "POST", headers: {"Content-Type": "text/plain"},
                         body: JSON.stringify({token: token, key: key})})
    .then((r) => { if (note) note.textContent = r.ok ? "" : "refused"; })
    .catch(() => { if (note) note.textContent = "the run is over, or its machine cannot be reached from here"; });
  root.querySelectorAll("button[data-key]").forEach((b) => { b.onclick = () => send(b.dataset.key); });
  target.addEventListener("keydown", (e) => {
    if (e.altKey || e.metaKey || e.ctrlKey) return;
    let k = e.key === "Escape" ? "escape" : e.key.toLowerCase();
    if (/^[0-9]$/.test(k) || ["escape", " ", "h", "q", "i", "n", "b"].includes(k)) { e.preventDefault(); send(k); }
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
 all six, I look inside (B, N: another digit), SPACE pause, O box zoom, H reset, Ctrl-S save, Q stop</small></header>
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
wrap.addEventListener("click", (e) => { if (!zooming) { const p = at(e); send([p[0], p[1], p[0], p[1]]); } });
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
      if (s.frame > since) {        // the frame whole before it replaces the last; one lost on the way is asked again
        const got = await fetch("frame.png?f=" + s.frame, {cache: "no-store"})
          .then((r) => (r.ok ? r.blob() : null)).catch(() => null);
        if (!got && s.closed) { show(s); return; }
        if (!got) { await new Promise((ok) => setTimeout(ok, 200)); continue; }
        const old = img.src, url = URL.createObjectURL(got);
        await new Promise((ok) => { img.onload = img.onerror = ok; img.src = url; });
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
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
