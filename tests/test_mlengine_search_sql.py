"""The search as a team runs it: several drivers, one study in an SQL storage (search.hptune --storage).

Three drivers in separate processes share one study, on a real PostgreSQL server (tests/pg_server.py, as
on three machines: each its own HPTUNE_MACHINE and --study-dir, so a dead driver is found by its late
heartbeat) and on an SQLite file (one machine: found by its pid). Two of them start at the same moment;
one is killed with kill -9 while its trial trains. Together they must run exactly maxTrials trials, never
more at once than maxParallelTrials, each trial started by one driver only, the killed driver's trial
re-run by another from its checkpoint, and report the best trial with its job's own figures.
"""
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import pg_server
from mlengine_helpers import ENV, MLENGINE, command, wait_for

TRIALS, CAP = 6, 2
SPEC = f"""trainingInput:
  args: ["--hp-iterations", "30", "--checkpoint-every", "10"]
  hyperparameters:
    goal: MINIMIZE
    hyperparameterMetricTag: loss
    maxTrials: {TRIALS}
    maxParallelTrials: {CAP}
    params:
      - {{parameterName: hp-conv1, type: INTEGER, minValue: 4, maxValue: 6, scaleType: UNIT_LINEAR_SCALE}}
      - {{parameterName: hp-conv2, type: INTEGER, minValue: 8, maxValue: 12, scaleType: UNIT_LINEAR_SCALE}}
      - {{parameterName: hp-conv3, type: INTEGER, minValue: 12, maxValue: 16, scaleType: UNIT_LINEAR_SCALE}}
      - {{parameterName: hp-lr2, type: INTEGER, minValue: 100, maxValue: 1000, scaleType: UNIT_LINEAR_SCALE}}
"""


@pytest.fixture(scope="module")
def postgres():
    reason = pg_server.missing()
    if reason:
        pytest.skip(reason)
    server = pg_server.start()
    yield server
    server.stop()


class Driver:
    """`python -m search.hptune` as one machine runs it, its output in a file."""

    def __init__(self, tmp_path, name, *flags, machine=None):
        self.name, self.dir, self.out = name, tmp_path / name, tmp_path / f"{name}.out"
        env = dict(ENV, HPTUNE_MACHINE=machine) if machine else ENV
        self.proc = subprocess.Popen(command("search.hptune", *flags, "--study-dir", self.dir), cwd=MLENGINE,
                                     env=env, stdout=open(self.out, "w"), stderr=subprocess.STDOUT)

    def text(self):
        return self.out.read_text()

    def started(self):
        return [int(n) for n in re.findall(r"^trial (\d+) started", self.text(), re.M)]


def load(url):
    from search import hpstorage
    import optuna
    storage = optuna.storages.RDBStorage(hpstorage.sql_url(url))
    return optuna.load_study(study_name="team", storage=storage).get_trials()


def most_at_once(trials):
    """The largest number of trials RUNNING together in the storage (ask to tell: encloses each trainer)."""
    events = []
    for t in trials:
        end = t.datetime_complete or datetime.datetime.max
        events += [(t.datetime_start, 1), (end, -1)]
    now = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at the same instant
        now += step
        peak = max(peak, now)
    return peak


@pytest.fixture
def drivers():
    """The drivers a test starts, killed by their pid if the test ends before they do."""
    started = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def run_team(tmp_path, url, machines, stale_after, drivers):
    """Driver a starts the study; b and c join it at the same moment, one trial at a time each (a slot is
    free for one of them only); whichever of them gets a trial first is killed while it trains.
    -> (the two that finished, the killed one)."""
    config = tmp_path / "team.yaml"
    config.write_text(SPEC)
    flags = ["--config", config, "--study", "team", "--storage", url, "--seed", "7", "--parallel", "1",
             "--stale-after", stale_after]
    a = Driver(tmp_path, "a", *flags, machine=machines[0])
    drivers.append(a)
    wait_for(lambda: "trials in" in a.text() or a.proc.poll() is not None, 60, "driver a to create the study")
    assert a.proc.poll() is None, a.text()
    drivers.extend(Driver(tmp_path, name, *flags, "--resume", machine=m) for name, m in zip("bc", machines[1:]))
    b, c = drivers[1:]
    wait_for(lambda: b.started() or c.started(), 120, "b or c to start a trial")
    killed, other = (b, c) if b.started() else (c, b)
    # killed once its trial has saved a checkpoint (a test at step 10 or later) and still trains
    log = killed.dir / "logs" / f"trial-{killed.started()[0]}.log"
    wait_for(lambda: log.exists() and re.search(r"^[1-9]\d: \*+ test", log.read_text(), re.M), 120,
             "its trial to test at step 10")
    os.kill(killed.proc.pid, signal.SIGKILL)
    killed.proc.wait()
    for d in (a, other):
        d.proc.wait(timeout=420)
        assert d.proc.returncode == 0, d.text()
    return a, other, killed


def check_team(a, c, b, trials, taken_over_by):
    """a and c finished; b was killed."""
    states = [t.state.name for t in trials]
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == TRIALS and "RUNNING" not in states and "WAITING" not in states, states
    assert most_at_once(trials) <= CAP
    started = a.started() + b.started() + c.started()  # each trial started by exactly one driver
    assert sorted(started) == sorted(t.number for t in trials), (a.started(), b.started(), c.started())
    killed = [t for t in trials if t.state.name == "FAIL"]
    assert killed and all(t.number in b.started() for t in killed)  # only b's trials were cut short
    reruns = {t.user_attrs["retry_of"]: t for t in trials if "retry_of" in t.user_attrs}
    for t in killed:  # none lost: each re-run with its parameters, in its job directory, from its checkpoint
        again = reruns[t.number]
        assert again.params == t.params and again.user_attrs["job_dir"] == t.user_attrs["job_dir"]
        where = a if again.number in a.started() else c
        assert f"trial {t.number}: its driver is gone" in a.text() + c.text()
        rerun_log = (where.dir / "logs" / f"trial-{again.number}.log").read_text()
        resumed = re.search(r"resuming from .* \(step (\d+)\)", rerun_log)  # (or it had ended as it was killed)
        assert resumed and int(resumed.group(1)) >= 10 or "already finished at step 30" in rerun_log, rerun_log
        gap = again.datetime_start.timestamp() - t.user_attrs["heartbeat"]  # from its last heartbeat
        assert taken_over_by(gap), gap
        print(f"{len(trials)} trials in the storage, at most {most_at_once(trials)} at once; trial {t.number} "
              f"of the killed driver re-run as trial {again.number}, {gap:.1f} s after its last heartbeat, "
              + (f"from step {resumed.group(1)}" if resumed else "already finished"))  # (pytest -s)
    best = min((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    metrics = json.load(open(os.path.join(best.user_attrs["job_dir"], "metrics.json")))
    assert metrics["test_loss"] == best.value and metrics["step"] == 30
    for d in (a, c):
        report = (d.dir / "report.txt").read_text()
        assert f"best: trial {best.number}: loss {metrics['test_loss']:.4f}, test_accuracy " \
               f"{metrics['test_accuracy']:.4f} after 30 steps" in report, report


@pytest.mark.slow
def test_three_drivers_on_postgresql_as_on_three_machines(tmp_path, postgres, drivers):
    url = postgres.create_database("team")
    # another machine cannot see the killed driver's pid: it waits for its heartbeat to be 30 s old
    team = run_team(tmp_path, url, ["machine-a", "machine-b", "machine-c"], 30, drivers)
    check_team(*team, load(url), lambda gap: gap >= 30)


@pytest.mark.slow
def test_three_drivers_on_sqlite_on_one_machine(tmp_path, drivers):
    url = f"sqlite:///{tmp_path / 'team.db'}"
    # on one machine the killed driver's pid is seen gone at once: no waiting for --stale-after (600 s)
    team = run_team(tmp_path, url, [None, None, None], 600, drivers)
    check_team(*team, load(url), lambda gap: gap < 60)


RACE = r"""
import sys, time
from search import hpconfig, hpstorage, hptrials
optuna = hptrials.quiet_optuna()
spec = hpconfig.read({config!r})
storage, _, path = hpstorage.open_storage({url!r}, {study_dir!r}, optuna)
study = hptrials.open_study(storage, "race", spec, True, 0)
lock = hpstorage.study_lock(storage, path, "race")
while time.time() < {at}:  # every process claims at the same instant
    pass
print("claimed" if hptrials.claim(study, spec, lock, hpstorage.machine(), None) else "refused", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["postgresql", "sqlite", "journal"])
def test_drivers_claiming_at_the_same_instant_never_exceed_the_cap(tmp_path, kind, request):
    """Six processes ask for a trial at the same instant (a shared clock deadline): two get one."""
    from search import hpconfig, hpstorage, hptrials
    config = tmp_path / "race.yaml"
    config.write_text(SPEC)
    url = {"postgresql": lambda: request.getfixturevalue("postgres").create_database(f"race{os.getpid()}"),
           "sqlite": lambda: f"sqlite:///{tmp_path / 'race.db'}", "journal": lambda: None}[kind]()
    optuna = hptrials.quiet_optuna()
    spec = hpconfig.read(config)
    storage, _, _ = hpstorage.open_storage(url, str(tmp_path), optuna)
    hptrials.open_study(storage, "race", spec, False, 0)  # created once, as the first driver does
    code = RACE.format(config=str(config), url=url, study_dir=str(tmp_path), at=time.time() + 6)
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=MLENGINE, env=ENV, stdout=subprocess.PIPE, text=True)
             for _ in range(6)]
    answers = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(answers) == ["claimed"] * CAP + ["refused"] * (6 - CAP), answers
    running = optuna.load_study(study_name="race", storage=storage).get_trials(states=(
        optuna.trial.TrialState.RUNNING,))
    assert len(running) == CAP
