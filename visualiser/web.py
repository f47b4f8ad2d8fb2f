"""--web [PORT]: the six panels live in a browser, on http://127.0.0.1:PORT/ (default 8000).

    python3 mnist_3.1_convolutional_bigger_dropout.py --web       # then open http://127.0.0.1:8000/
    ssh -L 8000:127.0.0.1:8000 gpu-box                           # from a laptop, for a run on gpu-box

The display core (visualiser.display) on an off-screen Agg figure, on the main thread while the training
runs in a worker: the same cheap frames as the window's, each encoded once as a PNG, served to every page by
visualiser.server (which says what guards what). Frames are drawn only while a page watches.
"""
from . import display, server
from .runloop import UserError


def run(vis, loop, host, port, movie=None, views=None):
    """Serve the live panels until the training ends, and then until Q or Ctrl-C."""
    core = display.Display(vis, loop, display.agg_screen(vis, views), "web", movie, pages=True)
    try:
        page = server.Server(core, host, port).start()
    except OSError as e:
        raise UserError(f"tensorflowvisu: cannot serve on {host}:{port} ({e.strerror}); give another port "
                        "(--web 8001) or --web 0 for any free one") from None
    print(f"tensorflowvisu: the panels are live at {page.url} (keys as in the window; Ctrl-C ends)", flush=True)
    try:
        core.run(linger=True)
    finally:
        page.close()
