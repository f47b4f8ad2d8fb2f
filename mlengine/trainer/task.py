"""The training job: flags in, a job directory out (checkpoints, summaries, metrics, the SavedModel).

    cd mlengine && python -m trainer.task --job-dir ../runs/mlengine/job
    python -m trainer.task --job-dir JOB --hp-iterations 300       # a short job; run again to resume

The hyperparameters are the flags named --hp-*, as in the original job, so that a hyperparameter search
(Vertex AI Vizier, or any tuner that passes flags) can set them. The flags become one Job (the settings);
the work is done in train.run(job, data). Everything a user can get wrong here (a flag, TF_CONFIG, the job
directory, another job in it, another data set than the job directory's) is answered in one line before
TensorFlow loads, which takes seconds.
"""
import argparse
import importlib.util
import os
import sys
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Optional

import mnistdata
from visualiser import quiet

from . import REPO_ROOT, cluster, jobdir
from .stop import Stopped, StopRequests

TUNABLE = [  # (flag, default, type, help)
    ("iterations", 3000, int, "training steps (batches of 100)"),
    ("lr0", 0.02, float, "learning rate: initial part that decays, lr = lr1 + lr0 * exp(-step / lr2)"),
    ("lr1", 0.0001, float, "learning rate: the floor it decays to"),
    ("lr2", 600, float, "learning rate: decay time constant, in steps"),
    ("dropout", 0.3, float, "dropout rate on the dense layer (0: none)"),
    ("conv1", 6, int, "filters of the first convolution (6x6, stride 1)"),
    ("conv2", 12, int, "filters of the second convolution (5x5, stride 2)"),
    ("conv3", 24, int, "filters of the third convolution (4x4, stride 2)"),
    ("bnexp", 0.993, float, "batch norm: decay of the moving averages used when testing"),
    ("shift", 1, int, "training digits moved by up to this many pixels each way, at random (0: none; "
                      "not in the original job: it lifts the default job from 99.32% to 99.39%)"),
]
DEFAULT_JOB_DIR = os.path.join(REPO_ROOT, "runs", "mlengine", "job")
# The steps' cap on --threads (visualiser/flags.py), the same rule written here again: the job does not
# import the steps' display package. More threads than this per core add only memory and switching.
THREADS_PER_CORE = 4


@dataclass(frozen=True)
class Job:
    """The job's settings, made once from the flags: all that trainer.train.run needs."""
    job_dir: str
    hp: Mapping[str, float]         # the network's and the schedule's hyperparameters: --hp-* but iterations
    iterations: int                 # the step to train to (--hp-iterations)
    seed: int = 0
    data_dir: Optional[str] = None  # None: the MNIST bundled in data/
    checkpoint_every: int = 200     # steps between checkpoints, each followed by a test
    summary_every: int = 10         # steps between TensorBoard summaries
    threads: int = 0                # TensorFlow's intra- and inter-op threads (0: one per core)
    role: cluster.Role = cluster.SINGLE  # this process's place in a multi-worker job (TF_CONFIG)

    @classmethod
    def from_args(cls, args, role=cluster.SINGLE):
        return cls(job_dir=args.job_dir, hp=MappingProxyType(hyperparameters(args)), iterations=args.hp_iterations,
                   seed=args.seed, data_dir=args.data_dir, checkpoint_every=args.checkpoint_every,
                   summary_every=args.summary_every, threads=args.threads, role=role)


def parser():
    p = argparse.ArgumentParser(prog="python -m trainer.task", description=__doc__.split("\n\n")[0])
    p.add_argument("--job-dir", default=DEFAULT_JOB_DIR,
                   help="folder for checkpoints, summaries, metrics.json and the export (default: %(default)s)")
    p.add_argument("--data-dir", default=None,
                   help="folder of the four MNIST-format files (default: the MNIST bundled in data/)")
    p.add_argument("--seed", type=int, default=0,
                   help=f"seed of the initial weights, data order and dropout, 0..{mnistdata.SEED_MAX} (default: %(default)s)")
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints (and test)")
    p.add_argument("--summary-every", type=int, default=10, help="steps between TensorBoard summaries")
    p.add_argument("--threads", type=int, default=0,
                   help=f"TensorFlow's intra- and inter-op threads, at most {THREADS_PER_CORE} per core (default 0: "
                        "one per core)")
    p.add_argument("--workers", type=int, default=1,
                   help="start this many local worker processes, data-parallel, on loopback ports, and "
                        "supervise them (restarting all from the last checkpoint if one dies); on a cluster, "
                        "leave it out and set TF_CONFIG instead (default: %(default)s)")
    p.add_argument("--ports", default=None,
                   help="with --workers: the loopback ports, comma-separated (default: free ones)")
    p.add_argument("--max-restarts", type=int, default=3,
                   help="with --workers: restarts after a worker dies before giving up (default: %(default)s)")
    for name, default, kind, text in TUNABLE:
        p.add_argument(f"--hp-{name}", type=kind, default=default,
                       help=text.replace("%", "%%") + " (default: %(default)s)")  # argparse formats help with %
    return p


def hyperparameters(args):
    return {name: getattr(args, "hp_" + name) for name, *_ in TUNABLE if name != "iterations"}


def check(p, args):
    positive = ["hp_iterations", "hp_lr2", "hp_conv1", "hp_conv2", "hp_conv3", "checkpoint_every",
                "summary_every"]
    for name in positive:
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if not 0 <= args.hp_dropout < 1:
        p.error(f"--hp-dropout must be in [0, 1), got {args.hp_dropout}")
    if not 0 <= args.seed <= mnistdata.SEED_MAX:
        p.error(f"--seed must be in 0..{mnistdata.SEED_MAX}, got {args.seed}")
    if not 0 <= args.hp_shift <= 8:
        p.error(f"--hp-shift must be a number of pixels from 0 to 8, got {args.hp_shift}")
    if not 0 < args.hp_bnexp < 1:
        p.error(f"--hp-bnexp must be in (0, 1), got {args.hp_bnexp}")
    if args.hp_lr0 < 0 or args.hp_lr1 < 0 or args.hp_lr0 + args.hp_lr1 <= 0:
        p.error("--hp-lr0 and --hp-lr1 must be >= 0, and not both 0")
    if args.threads < 0 or args.max_restarts < 0:
        p.error("--threads and --max-restarts must be >= 0")
    cores = cluster.cores()
    if args.threads > THREADS_PER_CORE * cores:  # --threads 10000 took 60 s for 50 steps, and 1.8 GB
        p.error(f"--threads {args.threads} on {cores} core{'s' * (cores > 1)}: give at most "
                f"{THREADS_PER_CORE * cores} ({THREADS_PER_CORE} per core; the default, 0, is one per core)")
    if not 1 <= args.workers <= 100:  # each worker holds a slice of the batch of 100
        p.error(f"--workers must be in 1..100, got {args.workers}")
    if args.ports is not None:
        try:
            args.ports = [int(port) for port in args.ports.split(",")]
        except ValueError:
            p.error(f"--ports must be comma-separated port numbers, got {args.ports!r}")
        if len(args.ports) != args.workers or not all(0 < port < 65536 for port in args.ports):
            p.error(f"--ports must give {args.workers} ports in 1..65535 (one per --workers), got {args.ports}")
    if args.workers > 1 and os.environ.get("TF_CONFIG"):
        p.error("--workers starts its own local cluster: unset TF_CONFIG, or leave --workers out to be "
                "one task of the cluster TF_CONFIG describes")


def main(argv=None):
    """The command: a flag's mistake is argparse's line (exit code 2); whatever stops the job is said here, in
    one line (exit code 1)."""
    p = parser()
    args = p.parse_args(argv)
    check(p, args)
    try:
        if args.workers > 1:
            from . import launch
            return launch.supervise(launch.worker_flags(sys.argv[1:] if argv is None else argv), args.workers,
                                    ports=args.ports, max_restarts=args.max_restarts)
        with StopRequests() as stop:  # from here on, Ctrl-C and SIGTERM end in one line (trainer/stop.py)
            return run(args, stop)
    except (jobdir.JobDirError, cluster.ClusterError) as e:
        return say(f"trainer: {e}")
    except mnistdata.MnistDataError as e:  # its line names the file and what to do
        return say(str(e))
    except Stopped as e:
        return say(f"trainer: stopped ({e.name}); the job directory keeps its last checkpoint: run the same "
                   "command to go on")


def installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules without a spec: taken out on purpose
        return False


def say(line):
    print(line, file=sys.stderr, flush=True)
    return 1


def run(args, stop):
    """The job in this process, once its flags are checked: the job directory checked and locked, then
    TensorFlow loaded and train.run."""
    role = cluster.from_env()  # a malformed TF_CONFIG stops here, in one line, before TensorFlow reads it
    if not installed("tensorboard"):  # tf.summary's writer: else a traceback after the first steps
        return say("trainer: the job writes TensorBoard summaries, which needs tensorboard: pip install -r "
                   "mlengine/requirements.txt")
    if role.is_chief:  # the one writer of the job directory
        jobdir.preflight(args.job_dir)
    lock = jobdir.lock(args.job_dir) if role.is_chief else None
    try:
        print("Tunable hyperparameters (set with --hp-NAME):")
        for name, default, *_ in TUNABLE:
            value = getattr(args, "hp_" + name)
            print(f"  --hp-{name:<10} {value:<10} {'' if value == default else '(default ' + str(default) + ')'}")
        print(f"job dir: {args.job_dir}   seed: {args.seed}" + (f"   worker {role.index} of {role.workers}"
              + (" (chief)" if role.is_chief else "") if role.distributed else ""), flush=True)
        job = Job.from_args(args, role)
        data = mnistdata.read_data_sets(job.data_dir, one_hot=True, reshape=False, seed=job.seed)
        jobdir.claim(job.job_dir, jobdir.make_config(job.hp, job.seed, data), owner=role.is_chief)
        if role.is_chief:
            jobdir.clear_leftovers(job.job_dir, log=print)
        quiet.import_tensorflow()  # seconds: not before every mistake above is answered; without its chatter
        from . import train
        train.run(job, data, stop, log=lambda line: print(line, flush=True))
        return 0
    finally:
        if lock:
            lock.close()  # (the lock would die with the process anyway)


if __name__ == "__main__":
    sys.exit(main())
