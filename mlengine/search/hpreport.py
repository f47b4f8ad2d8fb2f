"""The search's report: the best trial, a table of every trial, and the optimisation history as a PNG.

    python -m search.hptune --config config-hptune-small.yaml --report     # any time, even mid-search
"""
import os

import optuna

STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
          "WAITING": "waiting"}


def trial_value(t):
    """The trial's metric: its final value, or (pruned) the last one reported."""
    if t.value is not None:
        return t.value
    return t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None


def seconds(t):
    if t.datetime_start and t.datetime_complete:
        return (t.datetime_complete - t.datetime_start).total_seconds()
    return None


def best(study):
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    return study.best_trial if complete else None


def table(study, spec):
    names = [p["name"] for p in spec["params"]]
    head = ["trial", "state", *names, spec["metric"], "steps", "seconds"]
    rows, trials = [], study.get_trials(deepcopy=False)
    reruns = {t.user_attrs["retry_of"]: t.number for t in trials if "retry_of" in t.user_attrs}
    for t in trials:
        flags = t.user_attrs.get("flags", {})
        value, secs = trial_value(t), seconds(t)
        state = STATES.get(t.state.name, t.state.name.lower())
        if t.number in reruns:
            state += f" (re-run: {reruns[t.number]})"
        rows.append([str(t.number), state, *[str(flags.get(n, "")) for n in names],
                     "" if value is None else f"{value:.4f}", str(t.user_attrs.get("step", "")),
                     "" if secs is None else f"{secs:.0f}"])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows])


def text(study, spec, storage_name):
    trials = study.get_trials(deepcopy=False)
    count = {s: sum(t.state.name == s for t in trials) for s in STATES}
    lines = [f"study {study.study_name} ({storage_name}): {len(trials)} trials: {count['COMPLETE']} complete, "
             f"{count['PRUNED']} pruned, {count['FAIL']} failed, {count['RUNNING']} running; "
             f"goal {spec['goal']} {spec['metric']}, maxTrials {spec['max_trials']}"]
    b = best(study)
    if b is None:
        lines.append("best: none yet (no complete trial)")
    else:
        flags = " ".join(f"--{k} {v}" for k, v in b.user_attrs.get("flags", {}).items())
        other = "test_accuracy" if spec["metric"] == "loss" else "test_loss"
        extra = f", {other} {b.user_attrs[other]:.4f}" if other in b.user_attrs else ""
        lines.append(f"best: trial {b.number}: {spec['metric']} {b.value:.4f}{extra} after "
                     f"{b.user_attrs.get('step', '?')} steps, with {flags}")
        lines.append(f"  (job directory {b.user_attrs.get('job_dir', '?')})")
    return "\n".join(lines + ["", table(study, spec)])


def plot(study, spec, path):
    """Optimisation history: each trial's metric against its number, the best so far as a line."""
    import matplotlib
    matplotlib.use("Agg")  # no display needed; the module's own figure, not tensorflowvisu's
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    pick = min if spec["goal"] == "MINIMIZE" else max
    done, pruned, line, so_far = [], [], [], None
    for t in study.get_trials(deepcopy=False):
        value = trial_value(t)
        if value is None:
            continue
        if t.state == optuna.trial.TrialState.COMPLETE:
            done.append((t.number, value))
            so_far = value if so_far is None else pick(so_far, value)
            line.append((t.number, so_far))
        elif t.state == optuna.trial.TrialState.PRUNED:
            pruned.append((t.number, value))
    if done:
        ax.plot(*zip(*done), "o", color="tab:blue", label="complete")
        ax.step(*zip(*line), where="post", color="tab:red", label="best so far")
    if pruned:
        ax.plot(*zip(*pruned), "x", color="tab:gray", label="pruned (last value reported)")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(f"test {spec['metric']}")
    if spec["metric"] == "loss" and done:
        ax.set_yscale("log")  # a few bad trials would squash the good ones against the axis
    ax.set_title(f"{study.study_name}: optimisation history ({spec['goal'].lower()} {spec['metric']})")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)  # below: no point hidden
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write(study, spec, study_dir, storage_name):
    """report.txt and history.png in study_dir; returns the report's text."""
    os.makedirs(study_dir, exist_ok=True)
    report = text(study, spec, storage_name)
    png = plot(study, spec, os.path.join(study_dir, "history.png"))
    path = os.path.join(study_dir, "report.txt")
    with open(path + ".tmp", "w") as f:
        f.write(report + "\n")
    os.replace(path + ".tmp", path)
    return report + f"\n\nreport: {path}\nplot:   {png}"
