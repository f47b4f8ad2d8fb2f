"""The machinery behind tensorflowvisu, the course's visualiser (what a step script calls lives there).

    flags      the flags every step takes: read before TensorFlow loads, so --help and typos answer at once
    device     TensorFlow's thread pools (5.0's towers) and the device line a run starts with
    loop       the run loop: the test/training schedule, pause and stop, Ctrl-C and SIGTERM, the exit status
    panels     the six panels drawn from a MnistDataVis's data: one drawing code for every display
    files      the PNG and the movie, written under a temporary name and renamed when complete
    window     the live matplotlib window and its keys
    live       the renderer behind the browser page (web) and the notebook cell (notebook)
    board      --logdir: the run as TensorBoard events
    quiet      TensorFlow imported without the CUDA wheel's start-up lines (the steps and mlengine)
    startup    the start-up: the data read while TensorFlow imports without Keras; TFVISU_STARTUP_LOG, its stages

Nothing here imports matplotlib, TensorFlow or the web modules at import time: each is loaded by the display
mode that needs it.
"""
