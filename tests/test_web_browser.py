"""The two pages in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): a digit drawn
with mouse strokes on the canvas is recognised, and the live dashboard of a training counts steps and
stops counting on SPACE."""
from __future__ import annotations

import os
import signal
import time

import pytest

from web_helpers import CHROMIUM, CHROMIUM_ARGS, Server, trained_run

playwright = pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def draw(page, strokes):
    """Each stroke a list of (x, y) canvas points, drawn with the mouse as a person would."""
    box = page.locator("#pad").bounding_box()
    for points in strokes:
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        page.mouse.up()


def answer(page):
    """The digit shown once the page has answered the final drawing."""
    page.wait_for_function("() => document.getElementById('confidence').textContent !== ''")
    page.wait_for_timeout(400)  # the last stroke's request
    return page.locator("#digit").text_content()


def test_draw_a_digit(browser, tmp_path_factory):
    server = Server("serve", trained_run(tmp_path_factory))
    try:
        page = browser.new_page(viewport={"width": 900, "height": 600})
        page.goto(server.url)
        draw(page, [[(70, 60), (210, 60), (120, 240)]])  # a 7: the bar, then the slanted stem
        assert answer(page) == "7"
        seen = page.evaluate("() => Array.from(document.getElementById('seen').getContext('2d')"
                             ".getImageData(0, 0, 28, 28).data).filter((v, i) => i % 4 == 0)")
        assert max(seen) == 255 and seen[0] == 0  # the 28x28 image the model saw: light digit on black
        page.click("#clear")
        assert page.locator("#digit").text_content() == "?"
        draw(page, [[(140, 40), (140, 240)]])  # a 1
        assert answer(page) == "1"
    finally:
        server.stop()


def test_live_dashboard_counts_and_pauses(browser, tmp_path):
    train = Server("train", "1.0", "--iterations", "1000000", "--display", "web", "--run-dir", tmp_path / "run")
    try:
        page = browser.new_page(viewport={"width": 1320, "height": 860})
        page.goto(train.url)
        step = lambda: int(page.locator("#step").text_content().replace(",", ""))  # noqa: E731
        page.wait_for_function("() => parseInt(document.getElementById('step').textContent.replace(/,/g, '')) > 0")
        first = step()
        page.wait_for_function(f"() => parseInt(document.getElementById('step').textContent.replace(/,/g, '')) > {first}")
        page.wait_for_function("() => document.getElementById('frame').naturalWidth > 0")  # a frame was drawn
        page.keyboard.press("8")  # the curves layout, as in the window
        page.keyboard.press(" ")
        page.wait_for_function("() => document.getElementById('state').textContent === 'paused'")
        time.sleep(0.6)  # the step the loop stopped at reaches the page
        paused_at = step()
        time.sleep(1.5)
        assert step() == paused_at, "training went on while paused"
        page.keyboard.press(" ")
        page.wait_for_function(f"() => parseInt(document.getElementById('step').textContent.replace(/,/g, '')) > {paused_at}")
    finally:
        train.proc.send_signal(signal.SIGINT)  # the first Ctrl-C: stop after this step, checkpoint, exit
        try:
            code = train.proc.wait(30)
        finally:
            train.stop()
    assert code == 130 and "interrupted" in train.printed()
