"""A short run of the learner's network read from its printed figures (course.parse_run's lists), against the
step's recorded run of the same length (benchmarks/results/tutor_curves.json): the course's troubleshooting
cases, and how the accuracy compares. Standard library only.

Each diagnosis is (problem?, line). The cases, as the course describes them:
- a NaN loss: log(0) from a log of a softmax that underflowed (or a learning rate far too high);
- accuracy stuck near 10%, chance for ten digits: weights that all start at zero, so that every neuron of a
  layer learns the same thing;
- a noisier curve than the step's: late in the run the test figures jump more between tests than the step's
  did (a learning rate that does not decay); measured as the mean change between consecutive tests over the
  run's second half, test accuracy and test loss both at least NOISIER times the step's;
- the test loss climbing while the training loss falls: overfitting, which dropout cures.
"""
import math

STUCK = 0.3          # a max test accuracy below this after STUCK_AFTER iterations: not learning (chance is 0.1;
STUCK_AFTER = 200    # every step is past 0.7 at 200 iterations, and zero weights in step 2.0 reach 0.2 at 300)
NOISIER = 1.3
MARGIN = 0.002       # behind: below the step's lowest seed at the same iteration by more than a fifth of a point


def names(items):
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def nan_at(run):
    """The first iteration whose printed loss (or accuracy) is NaN, or None."""
    rows = sorted(run["train"] + run["test"])
    return next((i for i, a, c in rows if math.isnan(c) or math.isnan(a)), None)


def jitter(tests, column):
    """The mean change between consecutive tests over the second half of the run."""
    if not tests:
        return None
    half = [t for t in tests if t[0] >= tests[-1][0] / 2]
    steps = [abs(b[column] - a[column]) for a, b in zip(half, half[1:])]
    return sum(steps) / len(steps) if len(steps) >= 4 else None


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


def diagnose(run, reference, step, summary=None, missing=None):
    """[(problem, line)] for a parsed run; reference: the step's recorded run, or None and `missing` saying
    why; summary: the learner's graph summary, which names the likely cause where it can."""
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
        ref_tests = [tuple(t) for t in reference["test"] if t[0] <= last]
        pairs = [(jitter(tests, k), jitter(ref_tests, k)) for k in (1, 2)]
        if all(m is not None and r for m, r in pairs) and all(m >= NOISIER * r for m, r in pairs):
            (ma, ra), (ml, rl) = pairs
            out.append((True, f"noisier than the step's: late in the run your test accuracy moves {100 * ma:.2f} "
                              f"points from one test to the next (the step's {100 * ra:.2f}) and the test loss "
                              f"{ml:.2f} (the step's {rl:.2f}): a learning rate that does not decay keeps it "
                              "jumping"))
        common = {i for i, _, _ in ref_tests} & {i for i, _, _ in tests}      # the iterations both runs tested
        upto = max(common, default=0)
        mine = best_by([t for t in tests if t[0] in common], upto)
        theirs = best_by(ref_tests, upto)
        seeds = [best_by([(i, a, 0.0) for i, a in curve if i in common], upto)
                 for curve in reference.get("seeds", {}).values()]
        seeds = [b[0] for b in seeds if b] or ([theirs[0]] if theirs else [])
        if mine and theirs and bad is None:
            verdict = "on track" if mine[0] >= min(seeds) - MARGIN else "behind"
            spread = f"; {min(seeds):.2%}-{max(seeds):.2%} over seeds 0-{len(seeds) - 1}" if len(seeds) > 1 else ""
            cause = f": {zero_cause}" if zero_cause and verdict == "behind" and not stuck else ""
            when = f"in {last + 1:,} iterations" if upto == last else f"by iteration {upto:,}"
            out.append((verdict != "on track", f"{verdict}: {mine[0]:.2%} {when}, the step had {theirs[0]:.2%} (its "
                                               f"recorded run, seed 0{spread}){cause}"))
    elif best:
        why = missing or (f"no recorded run of step {step} to compare with (python3 benchmarks/tutor_curves.py "
                          f"--steps {step} records it)")
        out.append((False, f"{best[0]:.2%} in {last + 1:,} iterations; {why}"))
    return out
