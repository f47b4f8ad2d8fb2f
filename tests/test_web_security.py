"""The --web server against other origins and bad clients: a page of another origin, in headless Chromium,
can neither read the run's token nor send it keys, while the run's own page (directly or through a tunnel
on another port) still can; the notebook's keys-only server serves nothing but its keys; raw sockets that
lie about their body, trickle or send nothing are answered within the deadline, and meanwhile the server
answers everyone else."""
import http.server
import json
import re
import select
import socket
import threading
import time

import pytest

from test_web import browser, core, start_web_run, state  # noqa: F401  (fixtures)
from visualiser import server


def serve_html(text):
    """A page of another origin: another port of this machine (127.0.0.1:A and 127.0.0.1:B are two origins)."""
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def tunnel(port):
    """ssh -L in miniature: a local port that forwards every connection to `port`; returns its URL."""
    listener = socket.create_server(("127.0.0.1", 0))

    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def accept():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", port))
            except OSError:                # the run has ended (a browser's late request): no page behind
                client.close()
                continue
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/"


# What a page of another origin tries: read the page (and its token), the state and a frame; press keys
# with a guessed token and with the real one (as if it had leaked): 3 (a layout) in cors mode, SPACE in
# no-cors mode, whose answer the page cannot read but the run would act on.
ATTACK_JS = """async ([url, token]) => {
  const out = {};
  const read = async (what, options) => {
    try { const r = await fetch(url + what, options); return r.type + " " + r.status + " " + await r.text(); }
    catch (e) { return "blocked"; }
  };
  out.page = await read("");
  out.page_no_cors = await read("", {mode: "no-cors"});
  out.state = await read("state?since=0");
  for (const [name, t] of [["guess", "guess"], ["stolen", token]]) {
    out["post_" + name] = await read("key", {method: "POST", body: JSON.stringify({token: t, key: "3"})});
    out["post_" + name + "_no_cors"] = await read("key", {method: "POST", mode: "no-cors",
                                                          body: JSON.stringify({token: t, key: " "})});
  }
  out.img = await new Promise((ok) => { const i = new Image(); i.onload = () => ok("loaded");
    i.onerror = () => ok("blocked"); i.src = url + "frame.png"; });
  return out;
}"""

# The classic cross-site form: a text/plain form whose one field spells the JSON of a key, posted by navigation.
FORM_HTML = """<!doctype html><form method="POST" action="{url}key" enctype="text/plain">
<input name='{{"token": "{token}", "key": "9", "x": "' value='"}}'></form>
<script>document.forms[0].submit();</script>"""


@pytest.mark.slow
def test_another_origin_can_neither_read_the_token_nor_send_keys(browser):  # noqa: F811
    proc, url, lines = start_web_run("--iterations", "1000000")
    other, other_url = serve_html("<!doctype html><title>another site</title>")
    try:
        page = browser.new_page()
        page.goto(url)                                                 # the run's page: the token to steal
        page.wait_for_function("() => +document.getElementById('frame').dataset.frame > 0", timeout=60000)
        token = page.evaluate("() => document.documentElement.innerHTML.match(/tfvControls\\(controls, "
                              "document, \"\", \"([^\"]+)\"/)[1]")
        attacker = browser.new_page()
        attacker.goto(other_url)
        out = attacker.evaluate(ATTACK_JS, [url, token])
        assert out["page"] == "blocked" and out["state"] == "blocked", out        # CORS: nothing readable
        assert out["page_no_cors"] == "blocked" and out["img"] == "blocked", out  # CORP: not even opaque
        assert all(out[k] in ("blocked", "opaque 0 ") for k in out if k.startswith("post_")), out
        assert token not in json.dumps(out)

        attacker.set_content(FORM_HTML.format(url=url, token=token))            # a form posted across sites
        attacker.wait_for_function("() => document.body && document.body.innerText.includes('origin')")
        assert "another origin cannot send keys" in attacker.inner_text("body")
        attacker.set_content(f'<iframe src="{url}"></iframe>')                  # a frame: refused (clickjacking)
        deadline = time.time() + 10
        while attacker.frames[1].url in ("", "about:blank") and time.time() < deadline:
            time.sleep(0.1)
        assert attacker.frames[1].url.startswith("chrome-error:")               # Chromium's "refused" page

        time.sleep(3)                                                  # a key would be drawn by now
        s = state(url)
        assert not s["paused"] and s["layout"] == "0", s               # no key reached the run ...
        printed = lambda: int(re.findall(r"^(\d+): accuracy", "".join(lines), re.M)[-1])  # noqa: E731
        before = printed()
        time.sleep(1)
        assert printed() > before                                      # ... which trains on

        page.keyboard.press("Space")                                            # its own page still can
        page.wait_for_function("() => document.getElementById('frame').dataset.paused === 'true'")
        relay, relay_url = tunnel(int(url.rsplit(":", 1)[1].strip("/")))      # ... through ssh -L 9000:... too
        tunnelled = browser.new_page()
        tunnelled.goto(relay_url)
        tunnelled.wait_for_function("() => +document.getElementById('frame').dataset.frame > 0", timeout=30000)
        tunnelled.keyboard.press("Space")
        page.wait_for_function("() => document.getElementById('frame').dataset.paused === 'false'")
        relay.close()
        proc.terminate()
        assert proc.wait(30) == 0 and "Traceback" not in "".join(lines)
    finally:
        other.shutdown()
        if proc.poll() is None:
            proc.kill()


def test_the_notebooks_server_takes_keys_and_serves_nothing_else(core, browser, monkeypatch):  # noqa: F811
    pytest.importorskip("IPython")
    from visualiser import notebook, runloop
    steps = []
    loop = runloop.Loop(lambda i, test, train: (steps.append(i), time.sleep(0.01)), lambda i: (False, False), 10 ** 6)
    shown = []

    class Handle:                              # IPython's display handle: what the cell would show
        def __init__(self, obj):
            shown.append(obj)

        def update(self, obj):
            shown.append(obj)
    run = threading.Thread(target=notebook.run, args=(core.vis, loop),
                           kwargs={"display_cell": lambda o, **k: Handle(o)})
    run.start()
    other, other_url = serve_html("<!doctype html><title>Jupyter</title>")
    try:
        while len(shown) < 2:
            time.sleep(0.05)
        base, token = re.search(r'tfvControls\(root, root, "([^"]+)", "([^"]+)"\)', shown[0].data).groups()
        port = int(base.rsplit(":", 1)[1].strip("/"))
        for path in ("/", "/state?since=0", "/frame.png"):
            code, headers, body = exchange(port, f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            assert code == 405 and headers["allow"] == "POST" and token.encode() not in body, (path, code)
            assert "access-control-allow-origin" not in headers
        page = browser.new_page()
        page.goto(other_url)                       # Jupyter's page, another origin: the buttons' POST ...
        post = """async ([url, token, key]) => {
          const r = await fetch(url + "key", {method: "POST", headers: {"Content-Type": "text/plain"},
                                              body: JSON.stringify({token: token, key: key})});
          return r.status;
        }"""
        assert page.evaluate(post, [base, "guess", "q"]) == 403     # ... reads its answer (ACAO *): refused
        assert page.evaluate("(url) => fetch(url).then((r) => r.text(), () => 'blocked')", base) == "blocked"
        time.sleep(1)
        assert run.is_alive() and not loop.stop.is_set()            # the guessed Q did not stop the run
        assert page.evaluate(post, [base, token, "q"]) == 204       # the cell's token does
        run.join(20)
        assert not run.is_alive() and loop.stop.is_set() and "the run has ended" in shown[-1].data
    finally:
        other.shutdown()
        loop.stop.set()
        run.join(20)


# -- raw sockets --------------------------------------------------------------------------------------------

def exchange(port, data, close_write=False, timeout=10):
    """Send `data`, read the answer to its end: (status, headers with lowercase names, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if close_write:
            s.shutdown(socket.SHUT_WR)
        return parse(read_all(s))


def read_all(s):
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def parse(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:] if ":" in h)}
    return int(lines[0].split()[1]), headers, body


def one_line(headers, body):
    return headers["content-type"].startswith("text/plain") and body.endswith(b"\n") and body.count(b"\n") == 1


@pytest.fixture
def served(core, monkeypatch):  # noqa: F811
    monkeypatch.setattr(server, "REQUEST_S", 1.0, raising=False)   # the deadline, shortened (5 s in a run)
    s = server.Server(core, "127.0.0.1", 0).start()
    yield s, s.server_address[1]
    s.close()


def get(port, path="/state?since=0"):
    return exchange(port, f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())


def test_bad_query_values_and_methods_get_one_line(served):
    _, port = served
    for since in ("abc", "-1", "1e3", "", "9" * 40):
        code, headers, body = get(port, f"/state?since={since}")
        assert code == 400 and one_line(headers, body) and b"since" in body, (since, body)
    assert get(port, "/state?since=0")[0] == 200 and get(port, "/state")[0] == 200
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "BREW"):
        code, headers, body = exchange(port, f"{method} /key HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert code == 405 and headers["allow"] == "GET, POST" and one_line(headers, body), (method, body)
    code, headers, body = exchange(port, b"HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert code == 405 and body == b""
    code, headers, body = exchange(port, b"NONSENSE\r\n\r\n")
    assert code == 400 and one_line(headers, body) and b"<html" not in body.lower()
    assert get(port, "/nothing")[0] == 404


def test_bodies_that_lie_or_are_too_big_are_refused(served, core):  # noqa: F811
    s, port = served

    def post(headers, body=b"", **k):
        return exchange(port, b"POST /key HTTP/1.0\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n" + body, **k)
    key = json.dumps({"token": s.token, "key": "7"}).encode()
    assert post(b"Content-Length: 1000000000\r\n")[0] == 413
    assert post(b"Content-Length: abc\r\n", key)[0] == 400
    assert post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n")[0] == 411
    code, headers, body = post(b"Content-Length: 100\r\n", key, close_write=True)     # closed before the end
    assert code == 400 and one_line(headers, body)
    assert post(b"Origin: http://127.0.0.1:1\r\nContent-Length: %d\r\n" % len(key), key)[0] == 403
    assert post(b"Origin: null\r\nContent-Length: %d\r\n" % len(key), key)[0] == 403
    assert core.keys.empty()
    assert post(b"Content-Length: %d\r\n" % len(key), key)[0] == 204                 # no Origin: not a browser
    assert post(b"Origin: http://127.0.0.1\r\nContent-Length: %d\r\n" % len(key), key)[0] == 204   # its own


def test_slow_and_silent_clients_are_answered_in_time_and_hold_no_one(served, monkeypatch):
    _, port = served
    monkeypatch.setattr(server, "REQUEST_S", 2.0, raising=False)
    started, answers = time.monotonic(), {}

    def client(name, first, trickle=b""):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(first)
            for byte in trickle:                        # a byte every 0.2 s: each read is quick, the whole not
                if select.select([s], [], [], 0.2)[0]:
                    break                               # answered (cut off) meanwhile
                s.sendall(bytes([byte]))
            raw = read_all(s)
            code = parse(raw)[0] if raw else None       # nothing sent, nothing answered: closed
        answers[name] = (code, time.monotonic() - started)
    lying = b'POST /key HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"token": "'
    clients = {"silent": (b"",), "lying": (lying,),
               "trickling": (b"G", b"ET /state?since=0 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")}
    clients.update({f"silent{n}": (b"",) for n in range(20)})
    threads = [threading.Thread(target=client, args=(name, *data)) for name, data in clients.items()]
    for t in threads:
        t.start()
    time.sleep(0.2)
    begin = time.monotonic()
    assert get(port)[0] == 200 and time.monotonic() - begin < 1       # meanwhile, everyone else is answered
    for t in threads:
        t.join(15)
    assert set(answers) == set(clients)
    for name, (code, seconds) in answers.items():
        assert code == (None if name.startswith("silent") else 408) and 1.9 < seconds < 4, (name, code, seconds)
    assert get(port)[0] == 200
