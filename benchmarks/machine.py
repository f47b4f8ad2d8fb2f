"""The machine a benchmark ran on, in one record and one printed line: every benchmark prints the line at its
start and stores the record with every result, so that a figure always travels with its machine.

    python3 benchmarks/machine.py                     # the line for this machine, as the benchmarks print it
    python3 benchmarks/machine.py --isa avx2          # ... with oneDNN capped at AVX2 (an emulation)

What it holds: the CPU's model (/proc/cpuinfo), its vector extensions (AVX2, FMA, every avx512* flag), the
instruction set oneDNN really dispatches to (a child process runs one small convolution with ONEDNN_VERBOSE
and reads oneDNN's own "isa:" line and the kernel it chose), the cores this process may use
(sched_getaffinity), the load average, the share of CPU the host steals (/proc/stat) and the versions.

Why oneDNN's ISA: TensorFlow's pip wheel compiles its own (Eigen) kernels for AVX only (its start-up log asks
to "rebuild TensorFlow" for AVX2, AVX512F and FMA), so those run the same code on an AVX2 laptop and on an
AVX-512 server; oneDNN, which runs the convolutions, pools, batch norms and matrix products, picks its kernels
at run time from the CPU. ONEDNN_MAX_CPU_ISA=AVX2 caps that choice, which approximates an AVX2 CPU on an
AVX-512 one: the same cores, clock and caches, AVX2 kernels. It is an emulation, and the line says so.
"""
import json
import os
import platform
import re
import subprocess
import sys
import time

ISAS = {"avx2": "AVX2", "avx512": "AVX512_CORE"}      # --isa NAME -> ONEDNN_MAX_CPU_ISA
# One small convolution, so oneDNN initialises and prints its "info" lines; and the versions, from the same
# process (the benchmark itself never imports TensorFlow: its children do).
PROBE = ("import json, numpy, tensorflow as tf\n"
         "tf.nn.conv2d(tf.zeros([8, 24, 24, 16]), tf.zeros([3, 3, 16, 32]), 1, 'SAME')  # 5.0's 2nd layer\n"
         "try:\n    import keras; k = keras.__version__\nexcept ImportError:\n    k = None\n"
         "print('PROBE ' + json.dumps({'tensorflow': tf.__version__, 'keras': k, 'numpy': numpy.__version__}))\n")


def cpuinfo(path="/proc/cpuinfo"):
    """(model name, set of flags) of the first CPU; (platform.processor(), empty set) where there is none."""
    fields = cpu_fields(path)
    return fields.get("model name") or platform.processor() or "unknown CPU", set(fields.get("flags", "").split())


def cpu_fields(path="/proc/cpuinfo"):
    """The first CPU's block of /proc/cpuinfo as {key: value}; {} where there is none."""
    fields = {}
    try:
        for line in open(path):
            if not line.strip():
                if fields:
                    break
                continue
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def identity(path="/proc/cpuinfo"):
    """What tells two CPUs of one model name apart: a VM's "AMD EPYC" hides its generation, which its family
    and model numbers give (family 25 model 17: Zen 4; family 23 model 49: Zen 2), and a "core" may be
    one of two threads of a physical core (threads per core = siblings / cpu cores), which halves what two
    towers can do. Also the clock /proc/cpuinfo reports (nominal on a VM; it moves on a laptop)."""
    f = cpu_fields(path)
    number = lambda key: int(f[key]) if f.get(key, "").isdigit() else None  # noqa: E731
    siblings, cores = number("siblings"), number("cpu cores")
    try:
        mhz = round(float(f.get("cpu MHz", "")))
    except ValueError:
        mhz = None
    return {"family": number("cpu family"), "model": number("model"), "mhz": mhz,
            "threads_per_core": siblings // cores if siblings and cores else None}


def cpu_name(record):
    """'AMD EPYC (family 25 model 17)': the model name and, where recorded, the generation's numbers."""
    ident = record.get("identity") or {}
    if ident.get("family") is None:
        return record.get("cpu")
    return f"{record.get('cpu')} (family {ident['family']} model {ident['model']})"


def vector_class(flags):
    """The widest x86 vector extension the CPU has: 'AVX-512', 'AVX2', 'AVX' or 'none'."""
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags else "none"


def cpu_ticks():
    """(stolen, all) CPU ticks of the machine so far, from /proc/stat's first line; (0, 0) where there is none.
    'Stolen' is time the hypervisor gave this VM's cores to another guest: on a shared 2-core VM the same
    run has varied 1.5x from hour to hour, and the share stolen during a run is one reason that can be seen."""
    try:
        ticks = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks[:8])


def steal_share(before, after):
    stolen, total = after[0] - before[0], after[1] - before[1]
    return round(stolen / total, 3) if total > 0 else None


def runnable():
    """Threads running or ready to run right now (procs_running in /proc/stat, this reader included)."""
    try:
        return next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("procs_running"))
    except (OSError, StopIteration, ValueError):
        return None


def isa_env(isa, env=None):
    """The environment for the children: `isa` (None, 'avx2', 'avx512') sets ONEDNN_MAX_CPU_ISA."""
    env = dict(os.environ if env is None else env)
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = ISAS[isa]
    return env


def parse_onednn(text):
    """oneDNN's verbose lines -> {'isa': its description of the ISA, 'conv': the convolution kernel} (None
    for what is not there, e.g. with TF_ENABLE_ONEDNN_OPTS=0, where TensorFlow's own kernels run)."""
    isa = re.search(r"^onednn_verbose,(?:v1,)?info,cpu,isa:(.+)$", text, re.M)
    conv = re.search(r"^onednn_verbose,(?:v1,)?(?:primitive,)?exec,cpu,convolution,([^,]+),", text, re.M)
    return {"isa": isa and isa.group(1).strip(), "conv": conv and conv.group(1)}


def probe(env):
    """Run PROBE in a child with `env`: the versions and oneDNN's ISA there (a few seconds: one import)."""
    env = dict(env, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="2")
    try:
        r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": str(e)}
    found = re.search(r"^PROBE (.+)$", r.stdout, re.M)
    out = json.loads(found.group(1)) if found else {"error": (r.stderr or r.stdout)[-300:]}
    out["onednn"] = parse_onednn(r.stdout + r.stderr)
    return out


def describe(isa=None, env=None):
    """The record: CPU, vector extensions, oneDNN's ISA, cores, load, versions. `isa` as in isa_env."""
    env = isa_env(isa, env)
    model, flags = cpuinfo()
    found = probe(env)
    onednn_on = env.get("TF_ENABLE_ONEDNN_OPTS", "1") not in ("0", "false", "False")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "identity": identity(), "vector": vector_class(flags),
            "extensions": sorted(f for f in flags if f in ("avx", "avx2", "fma") or f.startswith("avx512")),
            "onednn": dict(found.get("onednn", {}), enabled=onednn_on, max_isa=env.get("ONEDNN_MAX_CPU_ISA")),
            "cores_usable": cores, "cores": os.cpu_count(), "load_before": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(), "python": platform.python_version(),
            **{k: found.get(k) for k in ("tensorflow", "keras", "numpy")},
            "date": time.strftime("%Y-%m-%d %H:%M"), **({"probe_error": found["error"]} if "error" in found else {})}


def kernels(record):
    """What runs the convolutions, in a few words: 'oneDNN: Intel AVX2 (ONEDNN_MAX_CPU_ISA=AVX2: an AVX2
    emulation on an AVX-512 CPU)', 'TensorFlow's own kernels (oneDNN off)'; oneDNN's ISA in its own words."""
    d = record.get("onednn") or {}
    if not d.get("enabled", True):
        return "TensorFlow's own kernels (oneDNN off)"
    isa, capped = d.get("isa") or "ISA not recorded", d.get("max_isa")
    if capped and record.get("vector") == "AVX-512" and "AVX-512" not in isa:
        return f"oneDNN: {isa} (ONEDNN_MAX_CPU_ISA={capped}: an emulation on an AVX-512 CPU)"
    return f"oneDNN: {isa}" + (f" (ONEDNN_MAX_CPU_ISA={capped})" if capped else "")


def short(record):
    """For a table's machine column: 'AMD EPYC, AVX-512, oneDNN avx512_core, 2 cores'; with oneDNN capped,
    'AMD EPYC, AVX-512 emulating AVX2 (oneDNN avx2), 2 cores'."""
    cores = record.get("cores_usable") or record.get("cores")
    d = record.get("onednn")
    if not d:
        return f"{cpu_name(record)}, vector extensions and oneDNN's ISA not recorded, {cores} cores"
    conv = d.get("conv") or ""
    isa = conv.split(":")[-1] if ":" in conv else d.get("isa") or "ISA not recorded"
    vector = record.get("vector")
    if not d.get("enabled", True):
        what = f"{vector}, TensorFlow's own kernels (oneDNN off)"
    elif d.get("max_isa") and vector == "AVX-512" and "avx512" not in isa:
        what = f"AVX-512 emulating AVX2 (oneDNN {isa})"
    else:
        what = f"{vector}, oneDNN {isa}"
    return f"{cpu_name(record)}, {what}, {cores} cores{threads_note(record)}"


def threads_note(record):
    n = (record.get("identity") or {}).get("threads_per_core")
    return f" ({n} threads per core)" if n and n > 1 else ""


def line(record, during=None):
    """The printed machine line. `during` adds what a run saw: {'load_after', 'runnable', 'steal'}."""
    avx512 = [f for f in record.get("extensions", []) if f.startswith("avx512")]
    vector = record.get("vector", "?") + (f" ({' '.join(avx512)})" if avx512 else "")
    load = f"load {record['load_before'][0]:.2f} before" if record.get("load_before") else "load not recorded"
    if during:
        if during.get("load_after") is not None:
            load += f", {during['load_after']:.2f} after"
        if during.get("runnable") is not None:
            load += f", {during['runnable']:g} runnable during"
        if during.get("steal") is not None:
            load += f", {during['steal']:.1%} stolen by the host"
    versions = ", ".join(f"{name} {record[key]}" for name, key in (("Python", "python"), ("TensorFlow", "tensorflow"),
                                                                  ("Keras", "keras"), ("numpy", "numpy"))
                         if record.get(key))
    n = (record.get("identity") or {}).get("threads_per_core")
    cores = f"{record.get('cores_usable')} of {record.get('cores')} cores"
    cores += f", {n} thread{'s' * (n > 1)} per core" if n else ""
    return f"machine: {cpu_name(record)} | {vector} | {kernels(record)} | {cores} | {load} | {versions}"


def parse(text):
    """A printed machine line -> {'cpu' (cpu_name's form), 'vector', 'kernels', 'cores_usable', 'cores',
    'threads_per_core', 'load_before', 'tensorflow'}; None if `text` holds no machine line."""
    m = re.search(r"^machine: (.+?) \| (AVX-512|AVX2|AVX|none|\?)(?: \([^)]*\))? \| (.+?) \| (\d+) of (\d+) cores"
                  r"(?:, (\d+) threads? per core)? \| load (?:([\d.]+) before|not recorded)[^|]* \|(.*)$", text, re.M)
    if not m:
        return None
    tf = re.search(r"TensorFlow (\S+?)(?:,|$)", m.group(8))
    return {"cpu": m.group(1), "vector": m.group(2), "kernels": m.group(3), "cores_usable": int(m.group(4)),
            "cores": int(m.group(5)), "threads_per_core": m.group(6) and int(m.group(6)),
            "load_before": m.group(7) and float(m.group(7)), "tensorflow": tf and tf.group(1)}


def same(a, b):
    """Whether two records (or parsed lines) describe the same kind of machine, as far as speed goes: the
    CPU model and generation, its vector class, the kernels oneDNN runs, the cores usable and TensorFlow's
    version."""
    def key(r):
        parsed = "kernels" in r
        return (r.get("cpu") if parsed else cpu_name(r), r.get("vector"), r.get("kernels") if parsed else kernels(r),
                r.get("cores_usable"), r.get("tensorflow"))
    return key(a) == key(b)


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--isa", choices=sorted(ISAS), help="cap oneDNN's instruction set (ONEDNN_MAX_CPU_ISA)")
    p.add_argument("--json", action="store_true", help="print the record as JSON too")
    args = p.parse_args(argv)
    record = describe(args.isa)
    print(line(record))
    if args.json:
        print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
