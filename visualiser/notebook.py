"""The six panels live in a Jupyter (or Colab, or VS Code) cell's output, chosen by tensorflowvisu when the
script runs in an IPython kernel:

    %run mnist_3.1_convolutional_bigger_dropout.py --iterations 2000

The cell shows a row of buttons (the window's keys; they also answer the keys themselves once clicked), then
one image of the panels replaced in place as the training goes (visualiser.live's frames of the window's own
drawing, at most one a second), then the script's printed lines. When the run ends the image stays as its
last frame, the buttons are replaced by a note, and the kernel is free: no thread is left behind. The
kernel's interrupt (the stop button) ends the training cleanly. The buttons reach the kernel through a small
server on 127.0.0.1 (the cell is busy while the training runs, so widget messages would only arrive after
it) that takes POST /key with the run's token and serves nothing else, so the token is in this cell's
output only (visualiser.web says what guards what). They work where the browser runs on the kernel's
machine (Jupyter, JupyterLab, VS Code), not from a remote notebook such as Colab, where the image still
updates and the stop button still works.
"""
from . import live as rendering, web

NOTEBOOK_MIN_WAIT_S = 1.0     # one image a second at most: each is a ~100-300 KB message to the browser


def in_kernel():
    """True inside a Jupyter kernel (not in a terminal IPython, where the window works)."""
    import sys
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def run(vis, loop, display=None):
    """Train with the panels in the cell's output. `display` is IPython.display.display (tests give their own)."""
    from IPython.display import HTML, Image
    if display is None:
        from IPython.display import display
    live = rendering.Live(vis, loop, min_wait=NOTEBOOK_MIN_WAIT_S, always_watched=True)
    server = web.Server(live, "127.0.0.1", 0, keys_only=True).start()
    controls = display(HTML(web.controls_html(server.url, server.token)), display_id=True)
    live.render()
    image = display(Image(data=live.png, format="png"), display_id=True)
    live.on_frame = lambda png: image.update(Image(data=png, format="png"))
    try:
        live.run()
    finally:
        server.close()
        controls.update(HTML(f"<small>{vis.title}: the run has ended; below, its last frame "
                             "(save it with the image's context menu).</small>"))
