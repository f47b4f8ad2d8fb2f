"""The draw-a-digit page in headless Chromium (Playwright, Debian's /usr/bin/chromium): draw a stroke with
the mouse (and with a finger) and see the 28x28 the model saw, a class and ten bars; upload a picture file."""
import os
import shutil
import time

import pytest

from mlengine_helpers import service

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(service().url)
    yield page
    page.close()
    assert not errors, errors


def stroke(page, points):
    box = page.locator("#pad").bounding_box()
    at = lambda x, y: (box["x"] + x * box["width"], box["y"] + y * box["height"])  # noqa: E731
    page.mouse.move(*at(*points[0]))
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(*at(x, y), steps=8)
    page.mouse.up()


def settled(page, seconds=15):
    """Wait until the page has no request in flight or queued and its class has stayed the same for 0.6 s: the
    answer to a stroke's end comes after the live ones (one request at a time), later on a loaded machine."""
    page.wait_for_function("document.getElementById('class').textContent !== ''", timeout=seconds * 1000)
    before, same, deadline = None, 0, time.monotonic() + seconds
    while same < 3 and time.monotonic() < deadline:
        busy, now = page.evaluate("[busy || again, document.getElementById('class').textContent]")
        same = same + 1 if not busy and now == before else 0
        before = now
        page.wait_for_timeout(200)


def shown(page):
    """(class shown, the ten bar widths in %, lit pixels of the 28x28) once the page's answer has settled."""
    settled(page)
    widths = page.eval_on_selector_all("#bars .bar", "bars => bars.map(b => parseFloat(b.style.width) || 0)")
    lit = page.evaluate("""() => {
        const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) n += d[i] > 64;
        return n; }""")
    return page.inner_text("#class"), widths, lit


def test_draw_a_one_and_see_the_class_and_the_bars(page):
    page.click("#clear")
    stroke(page, [(0.5, 0.15), (0.5, 0.85)])  # one vertical stroke: a "1"
    digit, widths, lit = shown(page)
    assert digit.isdigit() and len(widths) == 10
    assert 99 <= sum(widths) <= 101 and max(widths) == widths[int(digit)]
    assert lit >= 20  # the stroke, cropped and centred, lights part of the 28x28
    assert digit == "1"


def test_clear_then_upload_a_picture(page, tmp_path):
    from PIL import Image, ImageDraw
    page.click("#clear")
    assert page.inner_text("#class") == ""
    img = Image.new("L", (240, 240), 255)
    ImageDraw.Draw(img).line([(60, 50), (180, 50), (110, 200)], fill=0, width=18)  # a "7"
    path = tmp_path / "seven.png"
    img.save(path)
    page.set_input_files("#upload", str(path))
    digit, widths, lit = shown(page)
    assert digit.isdigit() and len(widths) == 10 and lit >= 20
    assert page.inner_text("#error") == ""


def test_draw_with_a_finger(browser):
    """Touch events (as a phone sends them, through Chromium's DevTools protocol) draw as the mouse does."""
    context = browser.new_context(viewport={"width": 400, "height": 800}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(service().url)
    box = page.locator("#pad").bounding_box()
    cdp = context.new_cdp_session(page)
    x = box["x"] + box["width"] / 2
    ys = [box["y"] + box["height"] * (0.15 + 0.07 * k) for k in range(11)]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": ys[0]}]})
    for y in ys[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    digit, widths, lit = shown(page)
    assert digit.isdigit() and len(widths) == 10 and lit >= 20
    assert page.evaluate("window.scrollY") == 0  # the stroke drew; it did not scroll the page
    context.close()
