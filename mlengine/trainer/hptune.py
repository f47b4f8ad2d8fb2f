"""Hyperparameter search on Optuna, reading the course's search spec (trainer/hpconfig.py):

    python -m trainer.hptune --config config-hptune-small.yaml               # a new study, to its report
    python -m trainer.hptune --config config-hptune-small.yaml --resume      # continue it / add a worker
    python -m trainer.hptune --config config-hptune.yaml --storage postgresql://user@db/hptune --resume
    python -m trainer.hptune --config config-hptune-small.yaml --report      # the report alone
    python -m trainer.hptune --config X.yaml -- --hp-iterations 300          # flags added to every trial

Each trial is a `python -m trainer.task` process with its own job directory (STUDY_DIR/trial-N); this
driver runs up to maxParallelTrials of them at once. The study lives in a shared storage: an Optuna journal
file (STUDY_DIR/study.journal) by default, or an SQL URL, which lets drivers on several machines work on
one study. The trainer tests at every checkpoint; each test is reported, and Optuna's MedianPruner stops a
trial whose value is worse than the median of the other trials at the same step.

A driver killed with kill -9 takes its trainers with it (they get SIGTERM and save a checkpoint); its
trials stay RUNNING in the storage until another driver (or this one run again with --resume) finds them
stale -- their driver's pid is gone (same machine) or their heartbeat is older than GRACE -- marks them
failed and queues each again with its parameters and job directory, so the re-run resumes from the trial's
checkpoint. Optuna's own heartbeat (RDBStorage only) is not used: this works for the journal file too.
"""
import argparse
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from . import REPO_ROOT, hpconfig, lines, task

DEFAULT_ROOT = os.path.join(REPO_ROOT, "runs", "mlengine", "hptune")
MLENGINE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_LINE = lines.TEST_LINE
HEARTBEAT, GRACE = 10.0, 120.0  # seconds: a driver's beat, and how old a beat makes a trial stale
HOST = socket.gethostname()


def parser():
    p = argparse.ArgumentParser(prog="python -m trainer.hptune", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="the search spec (YAML, the course's trainingInput.hyperparameters)")
    p.add_argument("--study", help="the study's name (default: the config file's name)")
    p.add_argument("--study-dir", help=f"trial job directories, logs, report (default: {DEFAULT_ROOT}/STUDY)")
    p.add_argument("--storage", help="an SQL URL (sqlite:///hp.db, postgresql://...) shared by drivers on "
                                     "several machines (default: the journal file STUDY_DIR/study.journal)")
    p.add_argument("--resume", action="store_true", help="continue an existing study (or join it as a worker)")
    p.add_argument("--report", action="store_true", help="print the report of an existing study and exit")
    p.add_argument("--parallel", type=int, help="trials this driver runs at once (default: maxParallelTrials)")
    p.add_argument("--seed", type=int, default=None, help="seed of the sampler (TPE)")
    return p


def die(message):
    raise hpconfig.ConfigError(message)


def quiet_optuna():
    import warnings
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def open_storage(url, study_dir):
    optuna = quiet_optuna()
    if url is None:
        os.makedirs(study_dir, exist_ok=True)
        path = os.path.join(study_dir, "study.journal")
        backend = optuna.storages.journal.JournalFileBackend(path)
        return optuna.storages.JournalStorage(backend), path
    if not re.match(r"^[a-z0-9+]+://", url):
        die(f"--storage {url!r} is not an SQL URL (sqlite:///path.db, postgresql://user@host/db)")
    try:
        return optuna.storages.RDBStorage(url), url
    except Exception as e:  # a driver missing, a server down: say which, in one line
        die(f"cannot open --storage {url}: {str(e).splitlines()[0]}")


def open_study(storage, name, spec, resume, seed, warmup):
    optuna = quiet_optuna()
    exists = name in optuna.study.get_all_study_names(storage)
    if exists and not resume:
        die(f"the study {name!r} exists already: add --resume to continue it (or to add this machine as a "
            "worker), or give --study another name")
    if not exists and resume:
        die(f"there is no study {name!r} to resume in this storage: leave --resume out to start it")
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup)
    sampler = optuna.samplers.TPESampler(seed=seed)
    if not exists:
        direction = "minimize" if spec["goal"] == "MINIMIZE" else "maximize"
        try:
            study = optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                        pruner=pruner)
        except optuna.exceptions.DuplicatedStudyError:
            die(f"the study {name!r} was just created by another driver: run again with --resume")
        study.set_user_attr("spec", spec)
        return study
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    old = study.user_attrs.get("spec", {})
    for key in ("goal", "metric", "params", "args"):
        if old.get(key) != spec[key]:
            die(f"the study {name!r} was started with another {key} ({old.get(key)!r}); resume it with its "
                "own config, or start a new --study")
    study.set_user_attr("spec", spec)  # maxTrials and maxParallelTrials may change on resume
    return study


def suggest(trial, p):
    """The flag's value for this trial (a string), drawn from the parameter's space."""
    name, kind = p["name"], p["type"]
    if kind in ("DISCRETE", "CATEGORICAL"):
        return str(trial.suggest_categorical(name, p["values"]))
    lo, hi, scale = p["min"], p["max"], p["scale"]
    draw = trial.suggest_int if kind == "INTEGER" else trial.suggest_float
    if scale == "UNIT_REVERSE_LOG_SCALE":  # dense near max: lo + hi - (log-uniform in [lo, hi])
        return str(lo + hi - draw(name + ":reversed", lo, hi, log=True))
    return str(draw(name, lo, hi, log=scale == "UNIT_LOG_SCALE"))


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
            if m := TEST_LINE.match(line):
                self.tests.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the trainer saves a checkpoint and exits
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale(study, log):
    """Fail the RUNNING trials whose driver is gone, and queue each again (same parameters, same job dir)."""
    from optuna.trial import TrialState
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, pid = t.user_attrs.get("driver", [None, None])
        beat = t.user_attrs.get("heartbeat", t.datetime_start.timestamp() if t.datetime_start else 0)
        gone = (host == HOST and pid != os.getpid() and not alive(pid)) or time.time() - beat > GRACE
        if not gone or (host == HOST and pid == os.getpid()):
            continue
        trainer = t.user_attrs.get("trainer_pid")
        if host == HOST and trainer:
            deadline = time.time() + 90  # its trainer got SIGTERM with the driver: let it finish saving
            while alive(trainer) and time.time() < deadline:
                time.sleep(0.2)
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except Exception:  # another driver reaped it first
            continue
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "job_dir": t.user_attrs.get("job_dir"),
                                                  "reported": {str(k): v for k, v in t.intermediate_values.items()}})
        log(f"trial {t.number}: its driver is gone; marked failed and queued again (it resumes from its "
            "checkpoint)")


def retried(trials):
    """{number of a failed trial: number of its re-run} (a finished trial cannot be updated, its re-run can)."""
    return {t.user_attrs["retry_of"]: t.number for t in trials if "retry_of" in t.user_attrs}


def start_trial(study, spec, study_dir, extra):
    trial = study.ask()
    flags = {p["name"]: suggest(trial, p) for p in spec["params"]}
    job_dir = trial.user_attrs.get("job_dir") or os.path.join(study_dir, f"trial-{trial.number}")
    retry_of = trial.user_attrs.get("retry_of")
    if retry_of is not None:
        for step, value in trial.user_attrs.get("reported", {}).items():  # its tests so far, kept
            trial.report(value, int(step))
    os.makedirs(os.path.join(study_dir, "logs"), exist_ok=True)
    run = Running(trial, flags, job_dir, os.path.join(study_dir, "logs", f"trial-{trial.number}.log"), extra)
    for key, value in (("flags", flags), ("job_dir", job_dir), ("driver", [HOST, os.getpid()]),
                       ("trainer_pid", run.proc.pid), ("heartbeat", time.time())):
        trial.set_user_attr(key, value)
    return run


def finish(study, spec, run, log):
    """The trial's process ended: tell Optuna its final metric, or that it failed. -> True if it counts."""
    from optuna.trial import TrialState
    trial, code = run.trial, run.proc.returncode
    metrics_path = os.path.join(run.job_dir, "metrics.json")
    if code == 0 and os.path.exists(metrics_path):
        from .jobdir import read_json
        metrics = read_json(metrics_path)
        for key in ("test_loss", "test_accuracy", "step"):
            trial.set_user_attr(key, metrics[key])
        study.tell(trial, metrics[spec["metric_key"]])
        log(f"trial {trial.number}: {spec['metric']} {metrics[spec['metric_key']]:.4f} (test accuracy "
            f"{metrics['test_accuracy']:.4f}) after {metrics['step']} steps, {time.time() - run.started:.0f} s")
        return
    study.tell(trial, state=TrialState.FAIL)
    log(f"trial {trial.number}: the trainer failed (exit code {code}); see {run.log.name}")


def drive(study, spec, study_dir, parallel, extra, iterations, log=print):
    """Run trials until the study holds maxTrials complete, pruned or failed-by-themselves ones.

    iterations: the trials' last step (its test is their final value: no pruning there)."""
    from optuna.trial import TrialState
    mine, stopping, last_beat, last_reap = [], [], 0.0, 0.0
    handlers = {s: signal.signal(s, lambda n, f: stopping.append(signal.Signals(n).name))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            now = time.time()
            if now - last_reap > HEARTBEAT:
                reap_stale(study, log)
                last_reap = now
            trials = study.get_trials(deepcopy=False)
            rerun = retried(trials)
            spent = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
                t.state == TrialState.FAIL and t.number not in rerun) for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            if spent >= spec["max_trials"] and not mine:
                return
            if len(mine) < parallel and running < spec["max_parallel"] and spent + running < spec["max_trials"]:
                mine.append(start_trial(study, spec, study_dir, extra))
                log(f"trial {mine[-1].trial.number} started: " + " ".join(
                    f"--{k} {v}" for k, v in mine[-1].flags.items()) + f"  ({mine[-1].job_dir})")
                continue
            for run in list(mine):
                while run.tests:
                    step, accuracy, loss = run.tests.pop(0)
                    run.trial.report(loss if spec["metric"] == "loss" else accuracy, step)
                    run.trial.set_user_attr("step", step)
                    if step < iterations and run.trial.should_prune():
                        run.stop()
                        study.tell(run.trial, state=TrialState.PRUNED)
                        log(f"trial {run.trial.number}: pruned at step {step} ({spec['metric']} "
                            f"{loss if spec['metric'] == 'loss' else accuracy:.4f}, worse than the median)")
                        mine.remove(run)
                        break
                else:
                    if run.proc.poll() is not None:
                        run.proc.wait()
                        time.sleep(0.2)  # the reader thread's last lines
                        finish(study, spec, run, log)
                        mine.remove(run)
            if now - last_beat > HEARTBEAT:
                for run in mine:
                    run.trial.set_user_attr("heartbeat", now)
                last_beat = now
            time.sleep(0.3)
        log(f"stopped ({stopping[0]}): the running trials saved a checkpoint; --resume continues them")
        for run in mine:
            run.stop()
        reap_now = [run.trial.number for run in mine]
        for run in mine:
            run.trial.set_user_attr("heartbeat", 0)  # stale at once: --resume queues them again
        raise hpconfig.ConfigError(f"stopped with trials {reap_now} unfinished; run the same command with "
                                   "--resume to continue")
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser().parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if not args.config:
        die("give --config FILE (the search spec; see config-hptune-small.yaml)")
    spec = hpconfig.read(args.config)
    fixed = [*spec["args"], *extra]  # spec["args"] were checked with their line by hpconfig.read
    flag = hpconfig.clash(extra, {p["name"] for p in spec["params"]})
    if flag:
        die(f"the trial flags after -- set {flag}, which the search sets for every trial")
    try:
        trial_args = task.parser().parse_args([*fixed, "--job-dir", "unused"])
    except SystemExit:
        die(f"the trainer refuses the trial flags {fixed} (its message is above)")
    if args.parallel is not None and args.parallel < 1:
        die("--parallel must be >= 1")
    name = args.study or os.path.splitext(os.path.basename(args.config))[0]
    study_dir = os.path.abspath(args.study_dir or os.path.join(DEFAULT_ROOT, name))
    if args.report and not args.resume:
        args.resume = True  # a report reads an existing study
    storage, storage_name = open_storage(args.storage, study_dir)
    warmup = trial_args.hp_iterations // 3  # the first tests are noisy (the learning rate is still high)
    study = open_study(storage, name, spec, args.resume, args.seed, warmup)
    from . import hpreport
    if not args.report:
        parallel = min(args.parallel or spec["max_parallel"], spec["max_trials"])
        if "--threads" not in " ".join(fixed):  # N trainers share the cores
            fixed += ["--threads", str(max(1, (os.cpu_count() or 1) // parallel))]
        print(f"study {name}: {spec['max_trials']} trials, {parallel} at once on this machine; storage "
              f"{storage_name}; trials in {study_dir}", flush=True)
        t0 = time.time()
        drive(study, spec, study_dir, parallel, fixed, trial_args.hp_iterations, log=lambda line: print(line, flush=True))
        print(f"search done in {time.time() - t0:.0f} s", flush=True)
    print(hpreport.write(study, spec, study_dir, storage_name), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
