"""The six panels live in a Jupyter (or Colab, or VS Code) cell's output, chosen by tensorflowvisu when the
script runs in an IPython kernel:

    %run mnist_3.1_convolutional_bigger_dropout.py --iterations 2000

The cell shows a row of buttons (the window's keys; they also answer the keys themselves once clicked), then
one image of the panels replaced in place as the training goes (the display core's frames, as the window's
and at its pace), then the script's printed lines. When the run ends the image stays as its last frame, the
buttons are replaced by a note, and the kernel is free: no thread is left behind. The kernel's interrupt
(the stop button) ends the training cleanly. The buttons reach the kernel through a small server on
127.0.0.1 (the cell is busy while the training runs, so widget messages would only arrive after it) that
takes POST /key with the run's token and serves nothing else, so the token is in this cell's output only
(visualiser.server says what guards what). They work where the browser runs on the kernel's machine
(Jupyter, JupyterLab, VS Code), not from a remote notebook such as Colab, where the image still updates and
the stop button still works.
"""
from . import display, server


def in_kernel():
    """True inside a Jupyter kernel (not in a terminal IPython, where the window works)."""
    import sys
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def run(vis, loop, movie=None, views=None, display_cell=None):
    """Train with the panels in the cell's output. `display_cell` is IPython.display.display (tests give
    their own)."""
    from IPython.display import HTML, Image
    if display_cell is None:
        from IPython.display import display as display_cell
    core = display.Display(vis, loop, display.agg_screen(vis, views), "notebook", movie, pages=True)
    core.always_watched = True
    keys = server.Server(core, "127.0.0.1", 0, keys_only=True).start()
    controls = display_cell(HTML(server.controls_html(keys.url, keys.token)), display_id=True)
    core.frame()
    image = display_cell(Image(data=core.png, format="png"), display_id=True)
    core.on_frame = lambda png: image.update(Image(data=png, format="png"))
    try:
        core.run()
    finally:
        keys.close()
        controls.update(HTML(f"<small>{vis.title}: the run has ended; below, its last frame "
                             "(save it with the image's context menu).</small>"))
