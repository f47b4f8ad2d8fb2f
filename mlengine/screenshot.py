"""Make docs/draw-page.png, the README's picture of the draw-a-digit page, by code: start the service on a
free port, draw a digit with the mouse in headless Chromium (Playwright), wait for the answer, screenshot.

    cd mlengine && python screenshot.py --model-dir ../runs/mlengine/job [--out ../docs/draw-page.png]
"""
import argparse
import os
import re
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
THREE = [[(0.30, 0.22), (0.50, 0.15), (0.68, 0.24), (0.62, 0.42), (0.45, 0.50)],  # a "3", in two strokes
         [(0.45, 0.50), (0.68, 0.60), (0.70, 0.78), (0.50, 0.87), (0.28, 0.80)]]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True)
    p.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "docs", "draw-page.png"))
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright
    server = subprocess.Popen([sys.executable, "-m", "serving.serve", "--model-dir", args.model_dir, "--port", "0"],
                              cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    try:
        url = next(m.group(1) for line in server.stdout if (m := re.search(r"at (http://\S+/)", line)))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 820, "height": 470}, device_scale_factor=1)
            page.goto(url)
            box = page.locator("#pad").bounding_box()
            for points in THREE:
                xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
                page.mouse.move(*xy[0])
                page.mouse.down()
                for point in xy[1:]:
                    page.mouse.move(*point, steps=10)
                page.mouse.up()
            page.wait_for_timeout(800)
            page.wait_for_function("document.getElementById('class').textContent !== ''")
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            print(f"{args.out}: the page reads {page.inner_text('#class')!r}")
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


if __name__ == "__main__":
    main()
