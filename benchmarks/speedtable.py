"""benchmarks/speed.py's markdown tables, from its results file: the times to each level, the slowdowns under
load, and the ratios runs. Every row names its machine (machine.short: CPU, vector class, oneDNN's ISA,
cores), so that no figure reads as if it came from another machine."""
import machine
from speedstats import LEVELS, FAST, PEER, COURSE


def fmt_time(s):
    if s["median"] is None:
        return f"not reached ({s['reached']}/{s['runs']})"
    extra = "" if s["reached"] == s["runs"] else f", {s['reached']}/{s['runs']} seeds"
    return f"{s['median']:.1f} s ({s['min']:.1f}-{s['max']:.1f}{extra})"


def enter(row):
    """The whole command's wait for 99% (its start-up included), or '-' where the run did not record it."""
    s = (row.get("enter_to") or {}).get("0.99") or {}
    return fmt_time(s) if s.get("runs") and (s.get("median") is not None or s.get("reached") == 0) else "-"


def stolen(shares):
    shares = [x for x in shares or [] if x is not None]
    return f"{min(shares):.1%}-{max(shares):.1%}" if shares else "-"


def loads(values):
    return "/".join(f"{x:.1f}" for x in values if x is not None) or "-"


def table(rows):
    lines = ["| step | condition | seeds | time to 98% | time to 99% | time to 99.5% | max accuracy, median (min-max) "
             "| s / 100 it | start-up s | load before | CPU stolen by the host | machine |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(rows):
        r = rows[key]
        acc = r["max_accuracy"]
        lines.append(f"| {r['script']} | {r.get('condition', 'no added load')} | {len(r['seeds'])} | "
                     + " | ".join(fmt_time(r["time_to"][f"{lv:g}"]) for lv in LEVELS)
                     + f" | {acc['median']:.2%} ({acc['min']:.2%}-{acc['max']:.2%}) | {r['s_per_100']['median']:.2f} | "
                       f"{r['startup_s']['median']:.1f} | {loads(r['load_before'])} | {stolen(r.get('steal'))} | "
                       f"{machine.short(r.get('machine') or {})} |")
    return "\n".join(lines)


def load_table(entries):
    lines = ["| step | iterations | condition | seeds | training s alone | training s loaded "
             "| slowdown, median (min-max) | fair share | within it | load before | machine |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(entries):
        e = entries[key]
        s = e["slowdown"]
        if s["median"] is None:
            continue
        within = "yes" if s["median"] <= e["fair"] else f"NO: {s['median'] / e['fair'] - 1:.0%} over"
        overlap = e.get("overlap") or []
        note = f" (trainings overlapped {min(overlap):.0%}-{max(overlap):.0%})" if overlap else ""
        lines.append(f"| {e['script']} | {e['iterations']:,} | {e['condition']}{note} | {len(e['seeds'])} | "
                     f"{loads(e['alone_s'])} | {'/'.join(loads(x) for x in e['loaded_s'])} | "
                     f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f}) | {e['fair']:g}x | {within} | "
                     f"{loads(e['load_before'])} | {machine.short(e.get('machine') or {})} |")
    return "\n".join(lines)


def ratios_table(runs):
    """One line per ratios run, newest last; the day only (the results file keeps the time)."""
    lines = [f"| date | machine | {PEER} / {FAST} | " + " | ".join(f"{s} / {FAST}" for s in COURSE)
             + f" | best course step / {FAST} | {FAST} to 99%, median (min-max) | {FAST} from Enter to 99% "
               f"| {PEER} from Enter to 99% | {PEER} / {FAST} from Enter "
               f"| {FAST} max accuracy, median (min) | load before |",
             "|---|---|---|" + "---|" * len(COURSE) + "---|---|---|---|---|---|---|"]
    for run in runs:
        r, rows = run["ratios"], run["rows"]
        fast = rows.get(FAST) or {}
        acc = fast.get("max_accuracy") or {}
        fx = lambda v: "-" if v is None else f"{v:g}x"  # noqa: E731
        all_loads = [x for row in rows.values() for x in row.get("load_before", []) if x is not None]
        load = f"{min(all_loads):.1f}-{max(all_loads):.1f}" if all_loads else "-"
        lines.append(f"| {run['date'][:10]} | {machine.short(run['machine'])} | {fx(r.get(f'{PEER}_over_{FAST}'))} | "
                     + " | ".join(fx(r.get(f"{s}_over_{FAST}")) for s in COURSE)
                     + f" | {fx(r.get(f'best_course_over_{FAST}'))} ({r.get('best_course_step') or '-'}) | "
                       f"{fmt_time(fast['time_to']['0.99']) if fast else '-'} | "
                       f"{enter(fast)} | {enter(rows.get(PEER) or {})} | "
                       f"{fx(r.get(f'{PEER}_over_{FAST}_from_enter'))} | "
                       f"{'-' if acc.get('median') is None else format(acc['median'], '.2%')} "
                       f"({'-' if acc.get('min') is None else format(acc['min'], '.2%')}) | "
                       f"{load} |")
    return "\n".join(lines)
