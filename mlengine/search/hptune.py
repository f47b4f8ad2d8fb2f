"""Hyperparameter search on Optuna, reading the course's search spec (trainer/hpconfig.py):

    python -m search.hptune --config config-hptune-small.yaml               # a new study, to its report
    python -m search.hptune --config config-hptune-small.yaml --resume      # continue it / add a worker
    python -m search.hptune --config config-hptune.yaml --storage postgresql://user@db/hptune --resume
    python -m search.hptune --config config-hptune-small.yaml --report      # the report alone
    python -m search.hptune --config X.yaml -- --hp-iterations 300          # flags added to every trial

Each trial is a `python -m trainer.task` process with its own job directory (STUDY_DIR/trial-N); this
driver runs up to --parallel of them at once, and all the study's drivers together at most maxParallelTrials
(hptrials.claim: counted under a lock the drivers share, hpstorage). The study lives in a shared storage:
an Optuna journal file (STUDY_DIR/study.journal) by default, or an SQL URL (SQLite; PostgreSQL for drivers
on several machines). The trainer tests at every checkpoint; each test is reported, and Optuna's
MedianPruner stops a trial whose best value so far is worse than the median of the finished trials at the
same step, from the warm-up on (hptrials.warmup_steps).

A driver killed with kill -9 takes its trainers with it (they get SIGTERM and save a checkpoint); its
trials stay RUNNING in the storage until another driver (or this one run again with --resume) finds them
stale -- their driver's pid is gone (same machine) or their heartbeat is older than --stale-after --
marks them failed and queues each again with its parameters and job directory, so the re-run resumes from
the trial's checkpoint. Optuna's own heartbeat (RDBStorage only) is not used: this works for the journal
file too.
"""
import argparse
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time

from trainer import REPO_ROOT, cluster, jobdir, lines, task

from . import hpconfig, hpstorage

DEFAULT_ROOT = os.path.join(REPO_ROOT, "runs", "mlengine", "hptune")
MLENGINE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEARTBEAT, GRACE = 10.0, 120.0  # seconds: a driver's beat, and how old a beat makes a trial stale


class UsageError(Exception):
    """A bad flag value: main says it in one line, exit code 2 (argparse's), before Optuna or TensorFlow is
    imported and before anything is written."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def usage_error(message):
    raise UsageError(message)


def parser():
    p = Parser(prog="python -m search.hptune", description=__doc__.split("\n\n")[0],
               epilog="Flags after -- go to every trial (python -m trainer.task --help lists them).")
    p.add_argument("--config", help="the search spec (YAML, the course's trainingInput.hyperparameters)")
    p.add_argument("--study", help="the study's name (default: the config file's name)")
    p.add_argument("--study-dir", help=f"trial job directories, logs, report (default: {DEFAULT_ROOT}/STUDY); "
                                       "on a file system all machines share, a trial taken over on another "
                                       "machine resumes from its checkpoint")
    p.add_argument("--storage", help="an SQL URL shared by the study's drivers: sqlite:///hp.db (one machine), "
                                     "postgresql://user@host/db (several machines) (default: the journal file "
                                     "STUDY_DIR/study.journal)")
    p.add_argument("--resume", action="store_true", help="continue an existing study (or join it as a worker)")
    p.add_argument("--report", action="store_true", help="print the report of an existing study and exit")
    p.add_argument("--parallel", type=int, help="trials this driver runs at once (default: maxParallelTrials; "
                                                "all drivers together run at most maxParallelTrials)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the sampler (TPE): trial N's draw depends on (seed, N) only, so a resumed "
                        "search or another driver never draws a finished trial's setting again")
    p.add_argument("--stale-after", type=float, default=GRACE,
                   help="seconds without a heartbeat after which another machine's RUNNING trial is taken "
                        "over and re-run from its checkpoint (default: %(default)s; the machines' clocks "
                        "must agree to well within it)")
    return p


def check_flags(args):
    """Every flag's value checked before any import of Optuna or TensorFlow, or any file written."""
    if not args.config:
        usage_error("give --config FILE (the search spec; see config-hptune-small.yaml)")
    if not os.path.isfile(args.config):
        usage_error(f"--config {args.config}: no such file")
    if args.parallel is not None and args.parallel < 1:
        usage_error(f"--parallel must be >= 1, got {args.parallel}")
    if not args.stale_after > 0:
        usage_error(f"--stale-after must be a number of seconds > 0, got {args.stale_after}")
    if args.storage is not None and (problem := hpstorage.url_problem(args.storage)):
        usage_error(problem)
    if args.study is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.study):
        usage_error(f"--study {args.study!r}: letters, digits, '_', '.', '-' (it names a folder)")
    if args.study_dir and os.path.exists(args.study_dir) and not os.path.isdir(args.study_dir):
        usage_error(f"--study-dir {args.study_dir} is a file, not a folder")


def check_trial_flags(extra):
    """The trials' flags (the config's args, then those after --) as the trainer parses and checks them."""
    trainer = task.parser()
    trainer.error = lambda message: usage_error(f"the trials' flags ({' '.join(extra)}): the trainer says: {message}")
    trial_args = trainer.parse_args([*extra, "--job-dir", "unused"])
    task.check(trainer, trial_args)  # the values the trainer would refuse in every trial
    return trial_args


def _die_with_parent():
    """In the trainer's process: SIGTERM when the driver dies (kill -9 included), so it saves and stops."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except OSError:
        pass


class Running:
    """One trial's trainer process; its test lines collected by a thread, its output in a log file."""

    def __init__(self, trial, flags, job_dir, log_path, extra):
        self.trial, self.flags, self.job_dir, self.tests, self.started = trial, flags, job_dir, [], time.time()
        cmd = [sys.executable, "-m", "trainer.task", "--job-dir", job_dir, *extra]
        for name, value in flags.items():
            cmd += ["--" + name, value]
        self.log = open(log_path, "a")
        self.proc = subprocess.Popen(cmd, cwd=MLENGINE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, preexec_fn=_die_with_parent,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1", TF_CONFIG=""))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()
            if m := lines.TEST_LINE.match(line):
                self.tests.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the trainer saves a checkpoint and exits
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_trial(trial, flags, study_dir, extra):
    job_dir = trial.user_attrs.get("job_dir") or os.path.join(study_dir, f"trial-{trial.number}")
    if trial.user_attrs.get("retry_of") is not None:
        for step, value in trial.user_attrs.get("reported", {}).items():  # its tests so far, kept
            trial.report(value, int(step))
    os.makedirs(os.path.join(study_dir, "logs"), exist_ok=True)
    run = Running(trial, flags, job_dir, os.path.join(study_dir, "logs", f"trial-{trial.number}.log"), extra)
    for key, value in (("flags", flags), ("job_dir", job_dir), ("trainer_pid", run.proc.pid)):
        trial.set_user_attr(key, value)
    return run


def finish(study, spec, run, log):
    """The trial's process ended: tell Optuna its final metric, or that it failed."""
    from optuna.trial import TrialState
    trial, code = run.trial, run.proc.returncode
    metrics_path = os.path.join(run.job_dir, "metrics.json")
    if code == 0 and os.path.exists(metrics_path):
        metrics = jobdir.read_json(metrics_path)
        for key in ("test_loss", "test_accuracy", "step"):
            trial.set_user_attr(key, metrics[key])
        study.tell(trial, metrics[spec["metric_key"]])
        log(f"trial {trial.number}: {spec['metric']} {metrics[spec['metric_key']]:.4f} (test accuracy "
            f"{metrics['test_accuracy']:.4f}) after {metrics['step']} steps, {time.time() - run.started:.0f} s")
        return
    study.tell(trial, state=TrialState.FAIL)
    log(f"trial {trial.number}: the trainer failed (exit code {code}); see {run.log.name}")


def follow(study, spec, run, iterations, log):
    """Report the trial's new tests; prune or finish it. -> True when the trial is over for this driver."""
    import optuna
    try:
        return _follow(study, spec, run, iterations, log)
    except (ValueError, optuna.exceptions.UpdateFinishedTrialError):  # "Cannot tell a FAIL trial", ...
        if study.get_trials(deepcopy=False)[run.trial.number].state == optuna.trial.TrialState.RUNNING:
            raise
        run.stop()  # its heartbeat came late: another driver took it over and runs it again
        log(f"trial {run.trial.number}: taken over by another driver; its trainer here stopped")
        return True


def _follow(study, spec, run, iterations, log):
    from optuna.trial import TrialState
    while run.tests:
        step, accuracy, loss = run.tests.pop(0)
        value = loss if spec["metric"] == "loss" else accuracy
        run.trial.report(value, step)
        run.trial.set_user_attr("step", step)
        if step < iterations and run.trial.should_prune():
            run.stop()
            study.tell(run.trial, state=TrialState.PRUNED)
            log(f"trial {run.trial.number}: pruned at step {step} ({spec['metric']} {value:.4f}, worse than "
                "the median)")
            return True
    if run.proc.poll() is None:
        return False
    run.proc.wait()
    time.sleep(0.2)  # the reader thread's last lines
    finish(study, spec, run, log)
    return True


def drive(study, spec, study_dir, parallel, extra, iterations, lock, seed=None, stale_after=GRACE,
          log=print):
    """Run trials until the study holds maxTrials complete, pruned or failed-by-themselves ones.

    iterations: the trials' last step (its test is their final value: no pruning there)."""
    import optuna
    from optuna.trial import TrialState
    from . import hptrials
    me, beat_every = hpstorage.machine(), min(HEARTBEAT, stale_after / 4)
    mine, stopping, last_beat, last_reap = [], [], 0.0, 0.0
    handlers = {s: signal.signal(s, lambda n, f: stopping.append(signal.Signals(n).name))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            now = time.time()
            if now - last_reap > beat_every:
                with lock:
                    hptrials.reap_stale(study, me, stale_after, log)
                last_reap = now
            trials = study.get_trials(deepcopy=False)
            state = {t.number: t.state for t in trials}
            for run in [r for r in mine if state.get(r.trial.number) != TrialState.RUNNING]:
                run.stop()  # another driver took it over (this one's heartbeat was late): its trainer stops
                mine.remove(run)
                log(f"trial {run.trial.number}: taken over by another driver; its trainer here stopped")
            spent, running = hptrials.counts(trials)
            if spent >= spec["max_trials"] and not mine:
                return
            if len(mine) < parallel and running < spec["max_parallel"] and spent + running < spec["max_trials"]:
                claimed = hptrials.claim(study, spec, lock, me, seed)  # counted again, under the lock
                if claimed:
                    mine.append(start_trial(*claimed, study_dir, extra))
                    log(f"trial {mine[-1].trial.number} started: " + " ".join(
                        f"--{k} {v}" for k, v in mine[-1].flags.items()) + f"  ({mine[-1].job_dir})")
                    continue
            for run in list(mine):
                if follow(study, spec, run, iterations, log):
                    mine.remove(run)
            if now - last_beat > beat_every:
                for run in mine:
                    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # taken over
                        run.trial.set_user_attr("heartbeat", now)  # just now: the next round stops it
                last_beat = now
            time.sleep(0.3)
        log(f"stopped ({stopping[0]}): the running trials saved a checkpoint; --resume continues them")
        for run in mine:
            run.stop()
        for run in mine:
            run.trial.set_user_attr("heartbeat", 0)  # stale at once: --resume queues them again
        raise hpconfig.SearchError(f"stopped with trials {[run.trial.number for run in mine]} unfinished; run "
                                   "the same command with --resume to continue")
    finally:
        for run in mine:  # an error (the storage lost, say): the trainers save a checkpoint and stop
            run.stop()
        for s, h in handlers.items():
            signal.signal(s, h)


def main(argv=None):
    """The command: its errors end here, each in one line (2: a flag; 1: the search cannot go on)."""
    try:
        return search(sys.argv[1:] if argv is None else list(argv))
    except UsageError as e:
        print(f"python -m search.hptune: error: {e} (see --help)", file=sys.stderr)
        return 2
    except hpconfig.SearchError as e:
        print(f"hptune: {e}", file=sys.stderr)
        return 1


def search(argv):
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser().parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    check_flags(args)
    spec = hpconfig.read(args.config)
    fixed = [*spec["args"], *extra]  # spec["args"] were checked against the searched flags by hpconfig.read
    flag = hpconfig.clash(extra, {p["name"] for p in spec["params"]})
    if flag:
        usage_error(f"the trial flags after -- set {flag}, which the search sets for every trial")
    trial_args = check_trial_flags(fixed)
    name = args.study or os.path.splitext(os.path.basename(args.config))[0]
    study_dir = os.path.abspath(args.study_dir or os.path.join(DEFAULT_ROOT, name))
    problem = jobdir.unwritable(study_dir)  # before anything is written (the journal, trials, the report)
    if problem:
        where, why = problem
        usage_error(f"--study-dir {study_dir}: " + (f"{where} is a file, not a folder" if why is None else
                                                     f"cannot write in {where} ({why})"))
    from . import hptrials  # Optuna, from here on
    optuna = hptrials.quiet_optuna()
    storage, storage_name, path = hpstorage.open_storage(args.storage, study_dir, optuna)
    warmup = hptrials.warmup_steps(trial_args.hp_iterations)
    study = hptrials.open_study(storage, name, spec, args.resume or args.report, warmup)
    from . import hpreport
    if not args.report:
        parallel = min(args.parallel or spec["max_parallel"], spec["max_parallel"], spec["max_trials"])
        if "--threads" not in " ".join(fixed):  # N trainers share the cores
            fixed += ["--threads", str(max(1, cluster.cores() // parallel))]
        print(f"study {name}: {spec['max_trials']} trials, {parallel} at once on this machine; storage "
              f"{storage_name}; trials in {study_dir}; pruning from step {warmup}", flush=True)
        t0 = time.time()
        try:
            drive(study, spec, study_dir, parallel, fixed, trial_args.hp_iterations,
                  hpstorage.study_lock(storage, path, name), seed=args.seed, stale_after=args.stale_after,
                  log=lambda line: print(line, flush=True))
        except hpstorage.lost_storage_errors(optuna) as e:
            raise hpconfig.SearchError(f"lost the storage {storage_name}: {str(e).strip().splitlines()[0]}; this "
                                       "driver's trials saved a checkpoint: run the same command with --resume once "
                                       "the storage is back") from None
        print(f"search done in {time.time() - t0:.0f} s", flush=True)
    print(hpreport.write(study, spec, study_dir, storage_name), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
