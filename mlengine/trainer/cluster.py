"""Who this process is in a multi-worker job: TF_CONFIG read and checked before TensorFlow sees it.

TF_CONFIG is the standard description of a TensorFlow cluster, set by Kubernetes operators, Vertex AI and
trainer.launch alike:

    {"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": "worker", "index": 1}}

A "chief" list of one address may come first (then the chief is that task; otherwise worker 0 is). The
chief alone writes the job directory. Parameter servers and evaluators are not used by this job.
TensorFlow's own error for a malformed TF_CONFIG is a long traceback, or a hang waiting for a peer that
cannot exist; this module says what is wrong in one line instead.
"""
import json
import os
import socket
from dataclasses import dataclass


class ClusterError(Exception):
    """TF_CONFIG or a port that the job cannot use: trainer.task says why, in one line."""


@dataclass(frozen=True)
class Role:
    workers: int      # tasks that train (chief included): each holds one shard of every global batch
    index: int        # this task's place among them, 0 = the chief
    is_chief: bool

    @property
    def distributed(self):
        return self.workers > 1


SINGLE = Role(workers=1, index=0, is_chief=True)
TYPES = ("chief", "worker")


def _address(text, where):
    host, sep, port = str(text).rpartition(":")
    if not isinstance(text, str) or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"TF_CONFIG: {where} is {text!r}, not 'host:port' with a port in 1..65535")


def parse(text):
    """TF_CONFIG's text -> Role; a ClusterError saying what to fix if it is malformed."""
    fix = "; fix TF_CONFIG or unset it to train on one machine"
    try:
        config = json.loads(text)
    except ValueError as e:
        raise ClusterError(f"TF_CONFIG is not JSON ({e}){fix}") from None
    if not isinstance(config, dict):
        raise ClusterError(f"TF_CONFIG must be a JSON object with 'cluster' and 'task'{fix}")
    for key in ("cluster", "task"):
        if not isinstance(config.get(key), dict):
            raise ClusterError(f"TF_CONFIG has no '{key}' object{fix}")
    cluster, task = config["cluster"], config["task"]
    unknown = sorted(set(cluster) - set(TYPES))
    if unknown:
        raise ClusterError(f"TF_CONFIG: cluster has {', '.join(unknown)}: this job uses only chief and worker "
                           f"tasks (data-parallel, no parameter servers or evaluator){fix}")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise ClusterError(f"TF_CONFIG: cluster.{kind} must be a non-empty list of 'host:port'{fix}")
        for i, address in enumerate(addresses):
            _address(address, f"cluster.{kind}[{i}]")
    if len(cluster.get("chief", [])) > 1:
        raise ClusterError(f"TF_CONFIG: cluster.chief lists {len(cluster['chief'])} tasks; at most one{fix}")
    everyone = [a for kind in TYPES for a in cluster.get(kind, [])]
    if len(set(everyone)) < len(everyone):
        raise ClusterError(f"TF_CONFIG: an address appears twice in cluster{fix}")
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in cluster:
        raise ClusterError(f"TF_CONFIG: task.type is {kind!r}, not one of the cluster's "
                           f"{', '.join(sorted(cluster))}{fix}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise ClusterError(f"TF_CONFIG: task.index is {index!r}, outside the {len(cluster[kind])} "
                           f"{kind} task(s) of cluster.{kind} (0..{len(cluster[kind]) - 1}){fix}")
    chiefs = len(cluster.get("chief", []))
    place = index if kind == "chief" else chiefs + index
    return Role(workers=len(everyone), index=place, is_chief=place == 0)


def from_env(environ=os.environ):
    text = environ.get("TF_CONFIG", "").strip()
    return parse(text) if text else SINGLE


def tf_config(ports, index, host="localhost"):
    """TF_CONFIG's text for local worker `index` of workers listening on `ports` of the loopback."""
    return json.dumps({"cluster": {"worker": [f"{host}:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def cores():
    """The cores this process may run on: its CPU affinity (a container's or taskset's), not the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def free_ports(n):
    """n ports free on the loopback now (bound to port 0 together, so they differ; then released)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def check_ports(ports):
    """ClusterError for a port some other program holds (TensorFlow would fail later with a gRPC traceback)."""
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free to gRPC too
            try:
                s.bind(("127.0.0.1", port))
            except OSError as e:
                raise ClusterError(f"port {port} is busy ({e.strerror}): give other --ports, or leave --ports "
                                   "out to use free ones") from None
