"""The flags every step script takes, read in one place, before TensorFlow is imported.

Standard library only (and mnistdata's folder check), so that `--help`, a typo or a bad value is answered in a
fraction of a second rather than after TensorFlow's 5-10 s import: the step scripts call
tensorflowvisu.flags() on their second line. Every value that can be judged before training is judged here,
output paths included: a run never trains for minutes to fail at its last line.
"""
import argparse
import os
import sys

import mnistdata
from mnistdata import SEED_MAX

MOVIE_FPS, MOVIE_MIN_S, MOVIE_MAX_S = 8, 10, 60   # --save-movie: a frame per panel update, 10 s to a minute
VIEWS = ("panels", "inside")     # --view: the six panels, the look-inside view (visualiser.inside_live)
THREADS_PER_CORE = 4      # --threads beyond this many per core is refused
KEYS_HELP = ("Keys in the window (and on the --web page): 1 accuracy, 2 loss, 3 training digits, 4 weights, "
             "5 biases, 6 test digits (one panel alone); 7 panels 1+2 (the curves), 8 panels 4+5 (the bands), "
             "9 panels 3+6 (the digits); 0 or ESC all six; I look inside the network (I, 0 or ESC again: back; "
             "N, B: the next or previous test digit; a click on the confusion matrix: a digit of that cell); "
             "SPACE pause; O box zoom; H reset zoom; Ctrl-S save a PNG; Q quit.")


def parser(prog=None):
    p = argparse.ArgumentParser(
        prog=prog or os.path.basename(sys.argv[0]) or "mnist_step.py",
        description="Train this step of 'TensorFlow and deep learning, without a PhD' and watch it in six "
                    "panels. " + KEYS_HELP)
    p.add_argument("--text", action="store_true", help="text only: no window, the same printed lines")
    p.add_argument("--iterations", type=positive, metavar="N",
                   help="train N iterations (i = 0 .. N-1), the last one tested (default: the course's "
                        "number for this step, e.g. 10000+1)")
    p.add_argument("--save-movie", nargs="?", const="", metavar="FILE",
                   help="save the panels as a movie: .mp4 (H.264 through imageio-ffmpeg's own ffmpeg) or .gif "
                        "(default FILE: <script>.mp4 in the current folder). The run as the window shows it: a "
                        "frame at each panel update while drawing stays within the window's budget (10%% of a "
                        f"core), at most {MOVIE_FPS * MOVIE_MAX_S} frames; {MOVIE_FPS} frames a second, fewer "
                        f"if the movie would last less than {MOVIE_MIN_S} s; the end of the run is its last "
                        "frame")
    p.add_argument("--save-png", metavar="FILE", help="save the six panels as they stand at the end, as a PNG")
    p.add_argument("--view", choices=VIEWS, default="panels",
                   help="the view shown first, and drawn by --save-png and --save-movie: panels (the course's "
                        "six, default) or inside (what the network learned: its mistakes by digit, its first "
                        "layer, a test digit through it; key I in the window and on the page)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="a folder of MNIST-format IDX files, e.g. Fashion-MNIST (default: the MNIST bundled "
                        "in data/)")
    p.add_argument("--seed", type=seed, default=0, metavar="N",
                   help=f"random seed of the weights, dropout and batch order, 0 to {SEED_MAX:,} (default 0: "
                        "two runs with the same seed print the same figures on CPU)")
    p.add_argument("--threads", type=threads, metavar="N",
                   help="TensorFlow's threads inside one operation (default: $TF_NUM_INTRAOP_THREADS, else "
                        "$OMP_NUM_THREADS, else one per core this process may use, 1 for step 1.0); between "
                        "operations: $TF_NUM_INTEROP_THREADS, else 1, none for step 1.0 (its small ops run on the "
                        "training's own thread) (5.0 runs N copies of its network instead, at most 4, one thread "
                        "each). The same seed gives the same figures at the same N")
    p.add_argument("--web", nargs="?", const=8000, type=port, metavar="PORT",
                   help="no window: serve the live panels and their keys to a browser at http://127.0.0.1:PORT/ "
                        "(default PORT 8000; 0: any free port); the page stays up after the run until Ctrl-C")
    p.add_argument("--web-host", default="127.0.0.1", metavar="ADDR",
                   help="the address --web listens on (default 127.0.0.1, this machine only: reach it from "
                        "elsewhere with ssh -L 8000:127.0.0.1:8000; 0.0.0.0 lets anyone on the network watch "
                        "and press its keys)")
    p.add_argument("--logdir", metavar="DIR",
                   help="also write the run for TensorBoard into DIR/<step> (accuracy and loss, weights and "
                        "biases); compare steps with: tensorboard --logdir DIR")
    return p


def parse(argv=None, lenient=False):
    """The flags of argv (default sys.argv[1:]); lenient: unknown ones are ignored (a notebook's %run brings
    the kernel's own). A bad value exits 2 with one line, as argparse does."""
    p = parser()
    args = p.parse_known_args(argv)[0] if lenient else p.parse_args(argv)
    if (problem := not_utf8(args.logdir)):
        p.error(f"--logdir {args.logdir}: {problem}")
    if args.save_movie == "":
        args.save_movie = os.path.splitext(os.path.basename(sys.argv[0]) or "mnist")[0] + ".mp4"
    for name, extensions in (("save_movie", (".mp4", ".gif")), ("save_png", (".png",))):
        path = getattr(args, name)
        problem = path is not None and output_problem(path, extensions)
        if problem:
            p.error(f"--{name.replace('_', '-')} {path}: {problem}")
    if args.logdir is not None and (problem := folder_to_make_problem(args.logdir)):
        p.error(f"--logdir {args.logdir}: {problem}")
    if args.data_dir is not None:
        if problem := mnistdata.folder_problem(args.data_dir):
            p.error(f"--data-dir {args.data_dir}: {problem}")
    return args


def positive(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return n


def threads(text):
    """A positive number of threads, at most THREADS_PER_CORE per core this process may use: more only
    adds memory (each thread's stacks and buffers: --threads 10000 took 1.8 GB) and switching."""
    n = positive(text)
    most = THREADS_PER_CORE * cores()
    if n > most:
        raise argparse.ArgumentTypeError(f"{n} threads on {cores()} core{'s' * (cores() > 1)}: give at most {most} "
                                         f"({THREADS_PER_CORE} per core; the default, one per core, is usually best)")
    return n


def cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def not_utf8(path):
    """Why TensorFlow cannot write under `path` (None when it can): it names files in UTF-8, and under an
    ASCII locale (LANG=C) a non-ASCII name reaches Python as undecodable bytes, which fail there only after
    the folder was made."""
    try:
        path is None or path.encode("utf-8")
    except UnicodeEncodeError:
        return ("the name is not UTF-8 in this locale (its file names are "
                f"{sys.getfilesystemencoding()}): use a plain ASCII name, or a UTF-8 locale (export LANG=C.UTF-8)")
    return None


def seed(text):
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed: give a whole number from 0 to {SEED_MAX:,}")
    return n


def port(text):
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def output_problem(path, extensions):
    """Why `path` cannot be written at the end of the run, or None: checked before any training."""
    if not path.lower().endswith(extensions):
        return "the name must end in " + " or ".join(extensions)
    if os.path.isdir(path):
        return "that is a folder"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"the folder {folder} does not exist" + (" (it is a file)" if os.path.exists(folder) else "")
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable"
    return None


def folder_to_make_problem(path):
    """Why the folder `path` can neither be used nor made, or None."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path):
        if not os.path.isdir(path):
            return "that is a file, not a folder"
        return None if os.access(path, os.W_OK | os.X_OK) else "the folder is not writable"
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent} is a file, not a folder"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"the folder {parent} is not writable"
