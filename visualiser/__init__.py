"""The machinery behind tensorflowvisu, the course's visualiser (what a step script calls lives there).

    front ends   window     the live matplotlib window (Tk) and its keys
                 web        --web: the panels in a browser page
                 notebook   the panels in a Jupyter cell
                 movie      --save-movie: the run as the window shows it, in an .mp4 or .gif
    the core     display    the figure and its views, cheap frames, keys, the hand-off with the training
                            thread, the PNG
    leaves       render     a figure drawn by blitting: cached backgrounds, restore, draw, blit
                 pacing     when a frame is drawn (the budget) and the frame log
                 panels     the six panels, the display's home view
                 files      the PNG and the movie file from RGB frames, never half-written
                 server     the HTTP server of the page and of the notebook's buttons
                 options    the flags every step takes: read before TensorFlow loads
                 device     TensorFlow's thread pools and the device line a run starts with
                 runloop    the run loop: the schedule, pause and stop, Ctrl-C and SIGTERM, the exit status
                 board      --logdir: the run as TensorBoard events
                 startup    the start-up: the data read while TensorFlow imports without Keras;
                            TFVISU_STARTUP_LOG, its stages
                 quiet      TensorFlow imported without the CUDA wheel's start-up lines (the steps and mlengine)
    a view       inside_live  the look-inside view (key I, --view inside), given to the core by tensorflowvisu;
                 over inside (the network read from its graph), mistakes (the test runs' confusion matrices),
                 inside_view (its drawing)

A front end imports the core and leaves, the core imports leaves, a leaf imports at most another leaf (device
options' core count, board and web runloop's UserError, server the panels' keys): no chain of imports among
these modules is longer than three. Nothing here imports matplotlib, TensorFlow or the web modules at import
time: each is loaded by the display mode that needs it.
"""
