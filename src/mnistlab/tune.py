"""`mnistlab tune`: parallel hyperparameter search on Optuna; every trial is an ordinary run dir.

    mnistlab tune 3.1 --iterations 2000 --trials 10 --storage study.log       # in as many shells as you like
    mnistlab tune --report --storage study.log                                 # best trials, and the command

Workers cooperate through the storage: a plain file path is Optuna's journal file (the choice for one
machine: appends under a file lock, no database); sqlite:///study.db works too but many processes writing
one SQLite file can hit "database is locked"; postgresql://... or mysql://... serve workers on many machines.
`--trials N` counts the trials THIS worker runs (Optuna's n_trials), whatever the others do.

A trial trains with `session.train(display="none")` into RUNS_DIR/trial-NNNN; a sink reports each test
accuracy to Optuna and stops the loop (Control.stop) when the MedianPruner says so. Its value is the run's
max test accuracy (what the course printed). A worker killed mid-trial leaves a RUNNING trial: the next
worker on the same machine marks it FAIL (its recorded process is gone), and with a database storage
Optuna's heartbeat fails it from any machine after HEARTBEAT_GRACE seconds.
"""
from __future__ import annotations

import os
import shlex
import socket
import sys
from pathlib import Path

HEARTBEAT, HEARTBEAT_GRACE = 10, 60  # seconds (database storages only)


class TuneError(Exception):
    """A storage or study that cannot be used as asked; one line for the user."""


def add_arguments(p, name: str) -> None:
    from .cli import add_recipe_overrides
    from .recipes import DEFAULT_RECIPE
    p.add_argument("recipe", nargs="?", default=None, help=f"the recipe to tune (default {DEFAULT_RECIPE}); "
                   "recipe overrides below are fixed for every trial (e.g. --iterations 2000)")
    p.add_argument("--trials", type=int, metavar="N", help="how many trials THIS worker runs (required unless --report)")
    p.add_argument("--storage", metavar="URL",
                   help="required: a file path (Optuna journal file: one machine), sqlite:///FILE.db, or "
                        "postgresql://... / mysql://... (many machines)")
    p.add_argument("--study", metavar="NAME", help="study name (default: the recipe's name; --report: the only study)")
    p.add_argument("--space", metavar="FILE", help="search space, TOML (default: the course's conv search; "
                   "see `mnistlab tune --print-space`)")
    p.add_argument("--runs-dir", metavar="DIR", help="where trial run dirs go (default runs/tune-STUDY)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--no-prune", action="store_true", help="run every trial to the end")
    p.add_argument("--report", action="store_true", help="print the best trials and the command reproducing the best")
    p.add_argument("--top", type=int, default=5, metavar="K", help="--report: how many trials to list")
    p.add_argument("--print-space", action="store_true", help="print the default search space and exit")
    add_recipe_overrides(p)


def _error(message: str, code: int = 2) -> int:
    print(f"mnistlab: error: {message}", file=sys.stderr)
    return code


def run(args) -> int:
    from .space import DEFAULT_SPACE, SpaceError
    if args.print_space:
        print(DEFAULT_SPACE, end="")
        return 0
    if not args.storage:
        return _error("--storage URL is required: a file path (journal), sqlite:///FILE.db, postgresql://... or mysql://...")
    try:
        import optuna
    except ModuleNotFoundError:
        return _error("mnistlab tune needs Optuna: pip install 'mnistlab[tune]'")
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # print_trial says what happened, in one line
    try:
        if args.report:
            return report(args.storage, args.study, args.top)
        return search(args)
    except (TuneError, SpaceError) as e:
        return _error(str(e))


# -- storage and study ------------------------------------------------------------------------------------
def open_storage(url: str, create: bool = True):
    """An Optuna storage for URL, checked now (before any training); TuneError says what is wrong."""
    import warnings

    import optuna
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # the heartbeat
    if "://" in url:
        scheme = url.split("://", 1)[0].split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql", "mysql"):
            raise TuneError(f"--storage {url}: unknown scheme {scheme!r}; use a file path (journal), "
                            "sqlite:///FILE.db, postgresql://... or mysql://...")
        if scheme == "sqlite" and not create and not Path(url.split(":///", 1)[-1]).is_file():
            raise TuneError(f"--storage {url}: no such database file")
        # SQLite: wait for a lock rather than fail at once; servers: fail fast when unreachable.
        engine = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else \
            {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT,
                                              grace_period=HEARTBEAT_GRACE)
        except ImportError as e:
            raise TuneError(f"--storage {url}: the database driver is not installed ({e}); for PostgreSQL "
                            "pip install psycopg2-binary, for MySQL pip install pymysql") from None
        except Exception as e:  # noqa: BLE001  (sqlalchemy raises many types)
            raise TuneError(f"--storage {url}: cannot open ({str(e).splitlines()[0]})") from None
    from optuna.storages.journal import JournalFileBackend
    path = Path(url)
    if not create and not path.is_file():
        raise TuneError(f"--storage {url}: no such file (a study's journal file is made by its first worker)")
    if not path.parent.is_dir():
        raise TuneError(f"--storage {url}: folder {path.parent} does not exist")
    if path.is_dir() or not os.access(path if path.exists() else path.parent, os.W_OK):
        raise TuneError(f"--storage {url}: not a writable file")
    try:
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    except Exception as e:  # noqa: BLE001
        raise TuneError(f"--storage {url}: not an Optuna journal file ({e})") from None


def load_study(storage, url: str, name: str | None):
    """An existing study; without a name, the only one in the storage."""
    import optuna
    try:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    except Exception as e:  # noqa: BLE001  (a damaged journal or database)
        raise TuneError(f"--storage {url}: cannot read ({str(e).splitlines()[0]})") from None
    if name is None and len(names) == 1:
        name = names[0]
    if name not in names:
        listed = ", ".join(names) or "none yet"
        raise TuneError(f"--storage {url} has no study {name!r}; studies: {listed}" if name or not names else
                        f"--storage {url} holds several studies ({listed}); name one with --study")
    return optuna.load_study(study_name=name, storage=storage)


# -- a worker ---------------------------------------------------------------------------------------------
def search(args) -> int:
    import optuna
    from .cli import overrides_from
    from .data import DataError
    from .loop import Diverged
    from .recipes import DEFAULT_RECIPE
    from .runs import RunError
    from .session import make_recipe
    from .space import check_against, load_space
    from .distributed import launched
    if launched():
        raise TuneError("start tune workers as plain processes, not under torchrun: each worker trains its own trials")
    if args.trials is None or args.trials < 1:
        raise TuneError("--trials N (a positive number: the trials this worker runs) is required, or use --report")
    recipe_name = args.recipe or DEFAULT_RECIPE
    fixed = overrides_from(args)
    try:
        base = make_recipe(recipe_name, **fixed)
    except ValueError as e:  # UnknownRecipe is a KeyError: cli.main reports it
        raise TuneError(str(e)) from None
    params, space_text = load_space(args.space)
    if args.space is None and base.model != "conv":
        raise TuneError(f"the default space tunes the conv recipes (3.0, 3.1, 4.2); give --space FILE for {base.name}")
    check_against(params, base, args.space or "the default space")
    both = [p.field for p in params if p.field in fixed]
    if both:
        raise TuneError(f"{', '.join('--' + f.replace('_', '-') for f in both)} is both fixed on the command line and "
                        "searched by the space; drop one")
    storage = open_storage(args.storage)
    study_name = args.study or base.name
    setup = {"recipe": base.name, "fixed": {k: list(v) if isinstance(v, tuple) else v for k, v in fixed.items()},
             "space": space_text}
    iterations = base.iterations
    pruner = optuna.pruners.NopPruner() if args.no_prune else \
        optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=iterations // 5)
    try:
        # constant_liar: running trials count as bad guesses, so parallel workers spread out
        study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize",
                                    load_if_exists=True, pruner=pruner,
                                    sampler=optuna.samplers.TPESampler(constant_liar=True))
    except Exception as e:  # noqa: BLE001
        raise TuneError(f"--storage {args.storage}: cannot create or load study {study_name!r} "
                        f"({str(e).splitlines()[0]})") from None
    known = study.user_attrs.get("setup")
    if known is None:
        study.set_user_attr("setup", setup)
    elif known != setup:
        raise TuneError(f"study {study_name!r} searches {known['recipe']} with other settings or another space; "
                        "give the same recipe, overrides and --space as its other workers, or another --study")
    fail_dead_workers(study)
    runs_dir = Path(args.runs_dir or Path("runs") / f"tune-{study_name}")
    print(f"tuning {base.name} in study {study_name!r} ({args.storage}): {args.trials} trials in this worker, "
          f"run dirs in {runs_dir}", flush=True)

    def objective(trial):
        overrides = {**fixed, **{p.field: p.suggest(trial) for p in params}}
        run_dir = runs_dir / f"trial-{trial.number:04d}"
        trial.set_user_attr("worker", worker_id())
        trial.set_user_attr("run_dir", str(run_dir.resolve()))  # workers may run in other folders
        trial.set_user_attr("command", reproduce_command(recipe_name, overrides))
        return run_trial(trial, recipe_name, overrides, run_dir, args.device)

    study.optimize(objective, n_trials=args.trials, catch=(Diverged, RunError, DataError),
                   callbacks=[print_trial])
    return 0


def run_trial(trial, recipe_name: str, overrides: dict, run_dir: Path, device: str) -> float:
    import optuna
    from .events import TestUpdate
    from .loop import Control
    from .session import train
    control = Control()

    class Pruning:  # a sink: each test accuracy goes to Optuna; a pruned trial stops after this step
        pruned_at = None

        def emit(self, event):
            if isinstance(event, TestUpdate) and self.pruned_at is None:
                trial.report(event.accuracy, event.step)
                if trial.should_prune():
                    self.pruned_at = event.step
                    control.stop()

        def close(self):
            pass

    sink = Pruning()
    result = train(recipe_name, display="none", run_dir=run_dir, device=device, sinks=[sink], control=control,
                   **overrides)
    if sink.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned at step {sink.pruned_at}")
    if result.status != "completed":  # Ctrl-C: the trial fails and the worker stops
        print(f"trial {trial.number}: stopped at step {result.summary['iterations']:,} and marked failed; its run "
              f"can go on with: mnistlab train --resume {run_dir}", file=sys.stderr)
        raise KeyboardInterrupt
    return result.summary["max_test_accuracy"]


def print_trial(study, t) -> None:
    value = f"{t.value:.4f}" if t.value is not None else \
        (f"{t.intermediate_values[t.last_step]:.4f} at step {t.last_step}" if t.last_step is not None else "-")
    print(f"trial {t.number}: {t.state.name.lower()} {value}  {format_params(t.params)}", flush=True)


def format_params(params: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def reproduce_command(recipe_name: str, overrides: dict) -> str:
    """The `mnistlab train` command that trains this trial again (floats exact, via repr)."""
    parts = ["mnistlab", "train", recipe_name]
    for k, v in overrides.items():
        text = ",".join(map(str, v)) if isinstance(v, (tuple, list)) else repr(v) if isinstance(v, float) else str(v)
        parts += ["--" + k.replace("_", "-"), text]
    return shlex.join(parts)


# -- dead workers -----------------------------------------------------------------------------------------
def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (Linux), so a reused pid is not taken for the old worker."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def worker_id() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid())}


def _alive(worker: dict) -> bool:
    try:
        os.kill(worker["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return worker.get("start") is None or _process_start(worker["pid"]) == worker["start"]


def fail_dead_workers(study) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker on this machine is gone (killed, crashed, rebooted)."""
    from optuna.trial import TrialState
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if worker and worker["host"] == socket.gethostname() and not _alive(worker):
            try:
                study.tell(t.number, state=TrialState.FAIL)
                failed.append(t.number)
            except Exception:  # noqa: BLE001  (another worker did it first)
                pass
    if failed:
        print(f"marked failed: trial(s) {', '.join(map(str, failed))} (their worker is gone)", flush=True)
    return failed


# -- report -----------------------------------------------------------------------------------------------
def report(url: str, name: str | None, top: int) -> int:
    from optuna.trial import TrialState
    study = load_study(open_storage(url, create=False), url, name)
    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    print(f"study {study.study_name!r} in {url}: {len(trials)} trials ("
          + ", ".join(f"{n} {s.name.lower()}" for s, n in counts.items() if n) + ")")
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: -t.value)
    if not done:
        print("no trial has completed yet")
        return 0
    print(f"{'trial':>6} {'max acc':>8} {'seconds':>8}  parameters")
    for t in done[:top]:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        print(f"{t.number:>6} {t.value:>8.4f} {seconds:>8.1f}  {format_params(t.params)}")
    best = study.best_trial
    print(f"best: trial {best.number}, max test accuracy {best.value:.4f}, run dir {best.user_attrs.get('run_dir')}")
    print(f"reproduce: {best.user_attrs.get('command')}")
    return 0
