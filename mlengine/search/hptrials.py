"""A study and its trials as all its drivers see them: the study opened (its pruner and sampler), what
counts, who runs what, stale trials taken over.

Every driver of a study, on any machine, does the same under the study's lock (hpstorage): reap_stale()
takes over the stale trials (every heartbeat), claim() counts and asks Optuna for the next trial only if
the count allows it. So the number of RUNNING trials in the storage never exceeds maxParallelTrials, and
COMPLETE + PRUNED + failed (not re-run) trials never exceed maxTrials, however many drivers start at the
same instant. A trial's RUNNING span in the storage (ask ... tell) encloses its trainer's whole life, so
the trainers are capped too.

A trial is stale when its driver is gone: a pid that no longer exists on this machine, or, from another
machine, a heartbeat older than --stale-after. A stale trial is marked failed and queued again (same
parameters, same job directory, its tests so far), so that the re-run resumes from its checkpoint.
"""
import os
import time
import warnings

import numpy as np
import optuna
from optuna.trial import TrialState

from trainer.jobdir import alive

from . import hpconfig


def quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _refuse(message):
    raise hpconfig.SearchError(message)


def warmup_steps(iterations):
    """No pruning before half of a trial's steps (Optuna's n_warmup_steps: the first test at or past it may
    prune). From the curves of 12 unpruned 300-step trials of the course's space, tested every 25 steps
    (results/README.md): in the first third, a test's rank agrees with the rank of the trial's end (the
    mean of its last 3 tests) at Spearman 0.19 to 0.31, chance for 12 trials, and the median rule there
    stops 2 or 3 of the 6 trials that end in the better half; from half-way on, 0.25 to 0.86 (0.69 or more
    at 5 of 7 tests). A third of the steps, a common warm-up, would let the first test prune (step 100 of 300)."""
    return iterations // 2


def open_study(storage, name, spec, resume, warmup):
    quiet_optuna()
    exists = name in optuna.study.get_all_study_names(storage)
    if exists and not resume:
        _refuse(f"the study {name!r} exists already: add --resume to continue it (or to add this machine as "
                "a worker), or give --study another name")
    if not exists and resume:
        _refuse(f"there is no study {name!r} to resume in this storage: leave --resume out to start it")
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup)
    sampler = optuna.samplers.TPESampler()  # reseeded for each trial with --seed (seed_sampler)
    if not exists:
        direction = "minimize" if spec["goal"] == "MINIMIZE" else "maximize"
        try:
            study = optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                        pruner=pruner)
        except optuna.exceptions.DuplicatedStudyError:
            _refuse(f"the study {name!r} was just created by another driver: run again with --resume")
        study.set_user_attr("spec", spec)
        return study
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    old = study.user_attrs.get("spec", {})
    for key in ("goal", "metric", "params", "args"):
        if old.get(key) != spec[key]:
            _refuse(f"the study {name!r} was started with another {key} ({old.get(key)!r}); resume it with "
                    "its own config, or start a new --study")
    study.set_user_attr("spec", spec)  # maxTrials and maxParallelTrials may change on resume
    return study


def retried(trials):
    """{number of a failed trial: number of its re-run} (a finished trial cannot be updated, its re-run can)."""
    return {t.user_attrs["retry_of"]: t.number for t in trials if "retry_of" in t.user_attrs}


def counts(trials):
    """-> (spent, running): trials that count against maxTrials, and those RUNNING in the storage."""
    rerun = retried(trials)
    spent = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        t.state == TrialState.FAIL and t.number not in rerun) for t in trials)
    return spent, sum(t.state == TrialState.RUNNING for t in trials)


def reap_stale(study, me, stale_after, log):
    """Fail the RUNNING trials whose driver is gone, and queue each again. Call it under the study's lock."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        where, pid = t.user_attrs.get("driver", [None, None])
        if where == me and pid == os.getpid():
            continue
        beat = t.user_attrs.get("heartbeat", t.datetime_start.timestamp() if t.datetime_start else 0)
        if not ((where == me and not alive(pid)) or time.time() - beat > stale_after):
            continue
        trainer = t.user_attrs.get("trainer_pid")
        if where == me and trainer and alive(trainer):
            continue  # it got SIGTERM with its driver and is saving a checkpoint: take it over once it is done
        study.tell(t.number, state=TrialState.FAIL)  # under the lock: no other driver reaps it meanwhile
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "job_dir": t.user_attrs.get("job_dir"),
                                                  "reported": {str(k): v for k, v in t.intermediate_values.items()}})
        log(f"trial {t.number}: its driver is gone ({where}, pid {pid}); marked failed and queued again (it "
            "resumes from its checkpoint)")


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


def seed_sampler(study, seed, number):
    """TPE for the trial that will be number `number`, its randomness a function of (seed, number).

    A resumed search, or a second driver with the same --seed, would otherwise replay the sampler's
    random stream from its start and draw again the settings of trials 0, 1, ... (TPE's first 10 trials
    are random draws; after them it conditions on every finished trial in the storage, on any driver)."""
    if seed is not None:
        state = int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
        study.sampler = optuna.samplers.TPESampler(seed=state)


def claim(study, spec, lock, me, seed):
    """Under the study's lock: count, and ask for a trial if the counts allow.

    -> (trial, flags) or None. The trial is RUNNING in the storage, marked with this driver."""
    with lock:
        trials = study.get_trials(deepcopy=False)
        spent, running = counts(trials)
        if running >= spec["max_parallel"] or spent + running >= spec["max_trials"]:
            return None
        seed_sampler(study, seed, len(trials))
        trial = study.ask()
        flags = {p["name"]: suggest(trial, p) for p in spec["params"]}
        trial.set_user_attr("driver", [me, os.getpid()])  # before the lock goes: others see whose it is
        trial.set_user_attr("heartbeat", time.time())
        return trial, flags
