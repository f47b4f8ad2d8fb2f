"""A run of the learner's network read from its printed figures (course.parse_run's lists), against the
step's recorded runs over the same iterations (benchmarks/results/tutor_curves.json, seeds 0-2): the course's
troubleshooting cases, and how the accuracy compares. Standard library only.

Each diagnosis is (problem?, line). The cases, as the course describes them:
- a NaN loss: log(0) from a log of a softmax that underflowed (or a learning rate far too high);
- accuracy stuck near 10%, chance for ten digits: weights that all start at zero, so that every neuron of a
  layer learns the same thing;
- a noisier curve than the step's (a learning rate that does not decay): the mean change of the training
  loss from one printed line to the next over the run's second half, NOISIER times the noisiest of the
  step's seeds over the same stretch. Judged only once the step's own rate has fallen to DECAYED of its
  start: measured on step 2.1 (seeds 0-3 each), 3,000 iterations separate the two (decaying 2.1-2.9, fixed
  3.8-4.8) where 1,000 do not (7.6 and 7.4 for seed 0; the test curve's noise overlaps at both lengths);
- the test loss climbing while the training loss falls: overfitting, which dropout cures.
"""
import math

STUCK = 0.3          # a max test accuracy below this after STUCK_AFTER iterations: not learning (chance is 0.1;
STUCK_AFTER = 200    # every step is past 0.7 at 200 iterations, and zero weights in step 2.0 reach 0.2 at 300)
NOISIER = 1.25
DECAYED = 0.3
MARGIN = 0.003       # behind: below the step's lowest seed at the same iteration by more than 0.3 points


def names(items):
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def nan_at(run):
    """The first iteration whose printed loss (or accuracy) is NaN, or None."""
    rows = sorted(run["train"] + run["test"])
    return next((i for i, a, c in rows if math.isnan(c) or math.isnan(a)), None)


def jitter(train, last):
    """The mean change of the training loss between consecutive printed lines over iterations last/2 .. last
    (None for fewer than 20 changes, or a NaN)."""
    half = [c for i, _, c in train if last / 2 <= i <= last]
    steps = [abs(b - a) for a, b in zip(half, half[1:])]
    return sum(steps) / len(steps) if len(steps) >= 20 and not any(map(math.isnan, steps)) else None


def rates(summary):
    """The learning rates training_step fed at the probed iterations: [(i, lr)] (tutor/graph.py's feeds)."""
    return [(p["i"], p["lr"]) for p in ((summary or {}).get("feeds") or {}).get("train", [])
            if p.get("ran") and p.get("lr") is not None]


def best_by(tests, iteration):
    seen = [(a, i) for i, a, _ in tests if i <= iteration and not math.isnan(a)]
    return max(seen) if seen else None


def overfitting(run):
    """(iteration of the lowest test loss, its value, the last test's) if the test loss climbs by 15% over
    the last part of the run while the training loss keeps falling, else None."""
    tests = [t for t in run["test"] if not math.isnan(t[2])]
    train = [t for t in run["train"] if not math.isnan(t[2])]
    if len(tests) < 6 or len(train) < 9:
        return None
    last = tests[-1][0]
    low = min((t for t in tests if t[0] >= last / 5), key=lambda t: t[2])
    third = lambda a, b: [c for i, _, c in train if a * last <= i < b * last]  # noqa: E731
    middle, end = third(1 / 3, 2 / 3), third(2 / 3, 1.01)
    if low[0] < 0.7 * last and tests[-1][2] > 1.15 * low[2] and middle and end and \
            sum(end) / len(end) < sum(middle) / len(middle):
        return low[0], low[2], tests[-1][2]
    return None


def diagnose(run, reference, step, summary=None, missing=None, step_summary=None):
    """[(problem, line)] for a parsed run; reference: the step's recorded runs, or None and `missing` saying
    why; summary and step_summary: the learner's graph summary, which names the likely cause where it can,
    and the step's (its learning rate)."""
    out = []
    layers = (summary or {}).get("layers") or []
    loss = ((summary or {}).get("loss") or {}).get("kind")
    tests = run["test"]
    if not tests:
        return [(True, "the run printed no test line: nothing to judge (does training_step print the course's "
                       "lines?)")]
    last = tests[-1][0]
    bad = nan_at(run)
    if bad is not None:
        cause = ("your loss takes the log of a softmax: once a probability underflows to 0, log(0) is -inf; "
                 "compute it from the logits (tf.nn.softmax_cross_entropy_with_logits_v2)") if loss == "log(softmax)" \
            else "a log of 0 somewhere in the loss, or a learning rate far too high"
        out.append((True, f"NaN: the loss is NaN from iteration {bad:,} on, and the network stops learning: {cause}"))
    best = best_by(tests, last)
    zeros = [x["weights"] for x in layers if x.get("init") and x["init"].get("const") == 0]
    zero_cause = (f"{names(zeros)} start at zero: every neuron of a layer then computes and learns the same thing; "
                  "start the weights random (tf.truncated_normal(shape, stddev=0.1))") if len(zeros) > 1 else None
    stuck = best and best[0] < STUCK and last >= STUCK_AFTER
    if stuck:
        cause = zero_cause or "the weights do not learn (all starting equal, a learning rate far off, or a NaN)"
        out.append((True, f"stuck near chance (10% for ten digits): {best[0]:.1%} at best in {last + 1:,} iterations: "
                          f"{cause}"))
    found = overfitting(run)
    if found:
        at, low, end = found
        out.append((True, f"overfitting: the test loss rose from {low:.3g} at iteration {at:,} to {end:.3g} while "
                          "the training loss kept falling: the network learns the training digits by heart "
                          "(dropout, step 2.2, is the course's cure)"))
    if reference:
        runs = [{k: [tuple(t) for t in r[k]] for k in ("train", "test")} for r in reference["runs"].values()]
        out += noise(run, runs, last, reference["iterations"], summary, step_summary)
        out += track(tests, runs, last, bad, zero_cause if not stuck else None)
    elif best:
        why = missing or (f"no recorded run of step {step} to compare with (python3 benchmarks/tutor_curves.py "
                          f"--steps {step} records it)")
        out.append((False, f"{best[0]:.2%} in {last + 1:,} iterations; {why}"))
    return out


def noise(run, runs, last, recorded, summary, step_summary):
    theirs, mine = rates(step_summary), rates(summary)
    if len(theirs) < 2 or theirs[0][1] <= 0 or theirs[-1][0] != last:
        return []
    if theirs[-1][1] > DECAYED * theirs[0][1]:        # the step's rate has not done its work yet
        fixed = len(mine) > 1 and all(abs(v - mine[0][1]) <= 1e-9 + 0.01 * mine[0][1] for _, v in mine)
        if fixed and recorded > last + 1:
            return [(False, f"a learning rate that does not decay shows late in a run, as a noisier curve: "
                            f"--iterations {recorded} trains far enough to see it")]
        return []
    ours, ref = jitter(run["train"], last), [jitter(r["train"], last) for r in runs]
    if ours is None or None in ref or not ref or ours < NOISIER * max(ref):
        return []
    return [(True, f"noisier than the step's: over the second half of the run your training loss moves {ours:.2f} "
                   f"from one printed line to the next, the step's {min(ref):.2f}-{max(ref):.2f} (seeds 0-"
                   f"{len(ref) - 1}): a learning rate that does not decay keeps it jumping")]


def track(tests, runs, last, bad, cause):
    """On track or behind: the best test accuracy over the iterations both runs tested, against the step's
    seeds (behind: under the lowest seed by more than MARGIN)."""
    common = {t[0] for t in runs[0]["test"]} & {t[0] for t in tests}
    upto = max((i for i in common if i <= last), default=None)
    if upto is None or bad is not None:
        return []
    mine = best_by([t for t in tests if t[0] in common], upto)
    seeds = [b[0] for b in (best_by([t for t in r["test"] if t[0] in common], upto) for r in runs) if b]
    if not mine or not seeds:
        return []
    verdict = "on track" if mine[0] >= min(seeds) - MARGIN else "behind"
    spread = f"; {min(seeds):.2%}-{max(seeds):.2%} over seeds 0-{len(seeds) - 1}" if len(seeds) > 1 else ""
    why = f": {cause}" if cause and verdict == "behind" else ""
    return [(verdict != "on track", f"{verdict}: {mine[0]:.2%} at iteration {upto:,}, the step had {seeds[0]:.2%} "
                                    f"(its recorded run, seed 0{spread}){why}")]
