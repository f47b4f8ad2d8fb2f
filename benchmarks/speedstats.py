"""benchmarks/speed.py's statistics: plain functions of timings, tested from synthetic ones (tests/test_speed.py).

Times to a level, their spread over seeds, the ratios measured side by side in one run (5.0 against the Keras
peer and the course's best step), the order that interleaves those runs, the slowdown under load against the
fair share of the cores, and the comparison with a previous results file of the same machine.
"""
import math

import machine

LEVELS = (0.98, 0.99, 0.995)
PEER, FAST = "keras", "5.0"
COURSE = ("3.1", "4.2")          # the course's two steps that reach 99%, the soonest of them is its best time
TARGETS = {"peer": 15.0, "peer_aim": 25.0, "course": 10.0, "median_accuracy": 0.99, "lowest_accuracy": 0.989,
           "seeds": 5, "enter_s": 6.0, "enter_lowest_accuracy": 0.99}


def time_to_levels(tests, arrivals, trained_at, training_s, levels=LEVELS):
    """tests [(iteration, accuracy)] in printed order, arrivals [seconds] when each test line arrived,
    trained_at when the 'trained ...' line arrived, training_s the seconds it reports: {level: seconds from
    the first training step to the first test at or above the level, or None}."""
    start = trained_at - training_s
    out = {}
    for level in levels:
        out[level] = next((round(t - start, 2) for (_, a), t in zip(tests, arrivals) if a >= level), None)
    return out


def wall_to_levels(tests, arrivals, launched, levels=LEVELS):
    """The whole command's wait: {level: seconds from the command's launch to the arrival of its first test line
    at or above the level (its start-up included: what a learner waits from pressing Enter), or None}."""
    return {level: next((round(t - launched, 2) for (_, a), t in zip(tests, arrivals) if a >= level), None)
            for level in levels}


def spread(values):
    """Median, min and max over seeds of values where None means 'not reached' (later than any time)."""
    reached = sorted(v for v in values if v is not None)
    ranked = reached + [math.inf] * (len(values) - len(reached))
    n = len(ranked)
    median = ranked[n // 2] if n % 2 else (ranked[n // 2 - 1] + ranked[n // 2]) / 2 if n else math.inf
    return {"median": None if math.isinf(median) else round(median, 6),
            "min": reached[0] if reached else None, "max": reached[-1] if reached else None,
            "reached": len(reached), "runs": n}


def aggregate(runs):
    """One step's runs (summaries with 'times') -> the row of the table."""
    row = {"step": runs[0]["step"], "script": runs[0]["script"], "seeds": [r["seed"] for r in runs],
           "time_to": {f"{level:g}": spread([r["times"][f"{level:g}"] for r in runs]) for level in LEVELS},
           "max_accuracy": spread([r["max_accuracy"] for r in runs]),
           "s_per_100": spread([r["s_per_100"] for r in runs]),
           "startup_s": spread([r["startup_s"] for r in runs]),
           "enter_to": {f"{level:g}": spread([(r.get("wall_times") or {}).get(f"{level:g}") for r in runs])
                        for level in LEVELS},
           "load_before": [r["load_before"] for r in runs], "steal": [r.get("steal") for r in runs]}
    return row


def median_time(rows, step, level="0.99"):
    return (rows.get(step) or {}).get("time_to", {}).get(level, {}).get("median")


def ratios(rows, fast=FAST, peer=PEER, course=COURSE):
    """{step: row} of ONE run -> how many times sooner `fast` reaches 99% (medians) than the peer and each
    course step, and than the course's best (its soonest step). None where a side did not reach 99%."""
    t_fast = median_time(rows, fast)
    over = lambda t: round(t / t_fast, 1) if t_fast and t else None  # noqa: E731
    out = {f"{other}_over_{fast}": over(median_time(rows, other)) for other in (peer, *course)}
    timed = [(median_time(rows, s), s) for s in course if median_time(rows, s)]
    best = min(timed) if timed else (None, None)
    out.update({"best_course_step": best[1], f"best_course_over_{fast}": over(best[0])})
    enter = lambda step: (rows.get(step) or {}).get("enter_to", {}).get("0.99", {}).get("median")  # noqa: E731
    out[f"{peer}_over_{fast}_from_enter"] = round(enter(peer) / enter(fast), 1) if enter(fast) and enter(peer) else None
    return out


def verdicts(rows, found, fast=FAST, peer=PEER):
    """The issue's targets, each as (met: bool or None when not measured, one line)."""
    acc = (rows.get(fast) or {}).get("max_accuracy") or {}
    peer_x, course_x = found.get(f"{peer}_over_{fast}"), found.get(f"best_course_over_{fast}")
    lines = []

    def check(value, ok, text):
        lines.append((None if value is None else ok, text))

    check(peer_x, peer_x is not None and peer_x >= TARGETS["peer"],
          f"{fast} against the Keras peer: {peer_x}x (target {TARGETS['peer']:g}x, aim {TARGETS['peer_aim']:g}x)")
    check(course_x, course_x is not None and course_x >= TARGETS["course"],
          f"{fast} against the course's best step ({found.get('best_course_step')}): {course_x}x "
          f"(target {TARGETS['course']:g}x)")
    median, lowest, runs = acc.get("median"), acc.get("min"), acc.get("runs") or 0
    pct = lambda v: "-" if v is None else f"{v:.2%}"  # noqa: E731
    check(median if runs >= TARGETS["seeds"] else None,
          median is not None and median >= TARGETS["median_accuracy"] and lowest >= TARGETS["lowest_accuracy"],
          f"{fast}'s max accuracy: median {pct(median)}, lowest seed {pct(lowest)} over {runs} seeds (targets: "
          f"median of {TARGETS['seeds']} seeds >= {TARGETS['median_accuracy']:.1%}, every seed >= "
          f"{TARGETS['lowest_accuracy']:.1%})")
    enter = (rows.get(fast) or {}).get("enter_to", {}).get("0.99") or {}
    peer_enter = (rows.get(peer) or {}).get("enter_to", {}).get("0.99") or {}
    seconds = lambda s: "-" if s.get("median") is None else f"{s['median']:.1f} s"  # noqa: E731
    check(enter.get("median") if runs >= TARGETS["seeds"] and enter.get("runs") else None,
          enter.get("median") is not None and enter["median"] <= TARGETS["enter_s"]
          and lowest >= TARGETS["enter_lowest_accuracy"],
          f"{fast} from Enter to 99% (the whole command): median {seconds(enter)} over {enter.get('runs', 0)} seeds, "
          f"lowest seed's max accuracy {pct(lowest)}; the Keras peer's {seconds(peer_enter)}, "
          f"{found.get(f'{peer}_over_{fast}_from_enter')}x (targets: at most {TARGETS['enter_s']:g} s, median of "
          f"{TARGETS['seeds']} seeds, every seed >= {TARGETS['enter_lowest_accuracy']:.1%})")
    return lines


def interleave(plan):
    """plan [(step, [seeds])] -> [(step, seed)] in running order, each step's runs spread evenly over the
    whole run, so that the machine's drift (this VM's speed has moved 1.5x within an hour) falls on every
    step alike: run k of n sits at (k + 1/2) / n of the way; ties keep the plan's order."""
    slots = []
    for order, (step, seeds) in enumerate(plan):
        slots += [((k + 0.5) / len(seeds), order, step, seed) for k, seed in enumerate(seeds)]
    return [(step, seed) for _, _, step, seed in sorted(slots)]


def fair_share(cores, extra, busy=None):
    """The slowdown a step that keeps `busy` threads running alone (default: every core) may fairly suffer
    beside `extra` more busy threads (busy loops, or a second copy of itself): with more runnable threads
    than cores the scheduler gives it cores * busy / (busy + extra) cores. Two busy loops or a second copy
    on 2 cores: 2x; one busy loop: 1.5x; a one-thread step beside one busy loop on 2 cores: 1x."""
    busy = min(busy or cores, cores)
    return round(max(1.0, (busy + extra) / cores), 3)


def slowdown(alone, loaded):
    """alone [s] per seed, loaded [[s, ...]] per seed (one under busy loops, two for a pair) -> the loaded
    runs' ratio to their own seed's alone run (interleaved, so each pair shares the machine's hour): median,
    min and max over every loaded run."""
    ratios_ = [t / a for a, ts in zip(alone, loaded) for t in ts if a and t]
    s = spread(ratios_)
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items()}


def overlap(window, beside):
    """The share of a run's training window (start, end) during which another load (start, end) was on:
    1.0 for a run wholly beside its companion; less where the companion started training late or ended early
    (then the slowdown reads low). None for an empty window."""
    (start, end), (b_start, b_end) = window, beside
    if end <= start:
        return None
    return round(max(0.0, min(end, b_end) - max(start, b_start)) / (end - start), 3)


def against_previous(found, record, history):
    """This run's ratios against the latest earlier ratios run of the same machine in `history` (a list of
    {'machine', 'ratios', 'date'}, oldest first) -> {'previous': date or None, 'note': one line,
    'changes': {ratio: now / before}}. A run of another machine is named, never compared."""
    same = [h for h in history if machine.same(h.get("machine") or {}, record)]
    if not same:
        other = history[-1]["machine"] if history else None
        note = ("no previous ratios run in the results file" if not other else
                f"no previous ratios run on this machine (the file's last is from {machine.short(other)}): "
                "not compared")
        return {"previous": None, "note": note, "changes": {}}
    before = same[-1]
    changes = {k: round(v / before["ratios"][k], 3) for k, v in found.items()
               if isinstance(v, (int, float)) and isinstance(before["ratios"].get(k), (int, float))
               and before["ratios"][k]}
    text = (", ".join(f"{k} {before['ratios'][k]} -> {found[k]} (x{c:g})" for k, c in changes.items())
            or "nothing comparable")
    return {"previous": before.get("date"), "note": f"against the ratios run of {before.get('date')} on the same "
                                                   f"machine: {text}", "changes": changes}
