"""The cloud part's command lines: every `python -m trainer.X` entry point's --help, and each user mistake
(an unknown flag, a bad value, a bad path) answered in one line before TensorFlow loads (checked with
`python -X importtime`: the answer must not have imported TensorFlow, which takes seconds)."""
import os
import re
import subprocess
import sys

import pytest

from mlengine_helpers import (MLENGINE, loaded_tensorflow, mount_tmpfs, own_lines,
                              run_counting_imports, scratch)

from trainer import cluster

PACKAGES = ("trainer", "serving", "search")
NOT_MINE = {"search.hptune", "search.warmup"}  # their command lines have their own tests (test_mlengine_hptune.py)


def entry_points():
    """mlengine modules with `if __name__ == "__main__":` (found, so that a new one is tested too)."""
    return sorted(f"{package}.{name[:-3]}" for package in PACKAGES
                  for name in os.listdir(os.path.join(MLENGINE, package)) if name.endswith(".py")
                  and re.search(r"^if __name__ == .__main__.:", open(os.path.join(MLENGINE, package, name)).read(),
                                re.M))


def test_the_commands_mlengine_documents_are_its_entry_points():
    """Every `python -m ...` that mlengine/README.md (or results/README.md) gives a user is an entry point
    whose --help and mistakes these tests run, and every entry point is documented there."""
    docs = "".join(open(os.path.join(MLENGINE, *path)).read() for path in (["README.md"], ["results", "README.md"]))
    documented = set(re.findall(r"python -m ((?:trainer|serving|search)\.\w+)", docs))
    assert documented == set(entry_points()), (documented, entry_points())


@pytest.mark.parametrize("module", [m for m in entry_points() if m not in NOT_MINE])
def test_every_entry_point_answers_help_without_tensorflow(module):
    done, imported = run_counting_imports(module, "--help")
    assert done.returncode == 0 and done.stdout.startswith(f"usage: python -m {module}"), done.stderr
    assert done.stderr == "" and not loaded_tensorflow(imported)


def a_file(name):
    path = os.path.join(scratch("cli"), name)
    with open(path, "w") as f:
        f.write("not a folder\n")
    return path


def a_binary_file():
    path = os.path.join(scratch("cli"), "picture.json")
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n\xff\xfe")
    return path


def with_a_file_for_summaries():
    job = os.path.join(scratch("cli"), "summaries-file")
    os.makedirs(job, exist_ok=True)
    with open(os.path.join(job, "config.json"), "w") as f:
        f.write("{}\n")
    with open(os.path.join(job, "train"), "w") as f:
        f.write("not a folder\n")
    return job


def foreign():
    path = scratch("cli-someones-folder")
    with open(os.path.join(path, "notes.txt"), "w") as f:
        f.write("mine\n")
    return path


DIGITS = os.path.join(MLENGINE, "digits.json")
MISTAKES = {  # what: (module, flags (callables made when the test runs), exit code, words of the one line)
    "task-unknown-flag": ("trainer.task", ["--no-such-flag"], 2, "unrecognized arguments: --no-such-flag"),
    "task-negative-seed": ("trainer.task", ["--seed", "-1"], 2, "--seed must be in 0..2147483646, got -1"),
    "task-huge-seed": ("trainer.task", ["--seed", str(2**31 - 1)], 2, "--seed must be in 0..2147483646"),
    "task-dropout": ("trainer.task", ["--hp-dropout", "1.5"], 2, "--hp-dropout must be in [0, 1)"),
    "task-threads-10000": ("trainer.task", ["--threads", "10000", "--job-dir", lambda: scratch("cli-threads")], 2,
                           f"--threads 10000 on {cluster.cores()} core"),
    "task-not-a-number": ("trainer.task", ["--hp-conv1", "six"], 2, "invalid int value: 'six'"),
    "task-job-dir-is-a-file": ("trainer.task", ["--job-dir", lambda: a_file("job-is-a-file")], 1, "is a file"),
    "task-job-dir-in-a-file": ("trainer.task", ["--job-dir", lambda: os.path.join(a_file("parent-file"), "job")], 1,
                               "is a file, not a folder"),
    "task-summaries-a-file": ("trainer.task", ["--job-dir", with_a_file_for_summaries], 1,
                              "is a file, where the job keeps its training summaries"),
    "task-someone-elses-folder": ("trainer.task", ["--job-dir", foreign], 1, "holds no config.json: it is not a job"),
    "serve-unknown-flag": ("serving.serve", ["--model-dir", DIGITS, "--bogus"], 2, "unrecognized arguments: --bogus"),
    "serve-port-99999": ("serving.serve", ["--model-dir", DIGITS, "--port", "99999"], 2,
                         "a TCP port is 0..65535 (0: any free one), got '99999'"),
    "serve-port-negative": ("serving.serve", ["--model-dir", DIGITS, "--port", "-1"], 2, "a TCP port is 0..65535"),
    "serve-max-instances-0": ("serving.serve", ["--model-dir", DIGITS, "--max-instances", "0"], 2,
                              "--max-instances: must be at least 1, got 0"),
    "serve-max-batch-0": ("serving.serve", ["--model-dir", DIGITS, "--max-batch", "0"], 2,
                          "--max-batch: must be at least 1, got 0"),
    "serve-body-nan": ("serving.serve", ["--model-dir", DIGITS, "--max-body-mb", "nan"], 2, "--max-body-mb: must be at least"),
    "serve-request-timeout-0": ("serving.serve", ["--model-dir", DIGITS, "--request-timeout", "0"], 2,
                                "--request-timeout: must be 0.1 to 3600 seconds, got 0"),
    "serve-name-with-slash": ("serving.serve", ["--model-dir", DIGITS, "--model-name", "a/b"], 2, "--model-name: letters"),
    "serve-no-model": ("serving.serve", ["--model-dir", lambda: scratch("cli-empty")], 1, "no SavedModel in"),
    "predict-unknown-flag": ("serving.predict", ["--model-dir", DIGITS, "--bogus"], 2, "unrecognized arguments: --bogus"),
    "predict-no-input": ("serving.predict", ["--model-dir", DIGITS], 2, "give --json-instances FILE and/or --images FILE"),
    "predict-missing-input": ("serving.predict", ["--model-dir", DIGITS, "--json-instances", "/no/such.json"], 1,
                              "predict: cannot read /no/such.json"),
    "predict-binary-input": ("serving.predict", ["--model-dir", DIGITS, "--json-instances", lambda: a_binary_file()],
                             1, "is not JSON: not even UTF-8 text"),
    "predict-no-model": ("serving.predict", ["--model-dir", lambda: scratch("cli-empty"), "--json-instances", DIGITS], 1,
                         "no SavedModel in"),
}


@pytest.mark.parametrize("module, flags, code, words", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_is_answered_in_one_line_before_tensorflow_loads(module, flags, code, words):
    flags = [f() if callable(f) else f for f in flags]
    done, imported = run_counting_imports(module, *flags)
    lines = own_lines(done.stderr)
    assert done.returncode == code and words in done.stderr, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and not loaded_tensorflow(imported), done.stderr
    assert len([line for line in lines if not line.startswith("usage:") and not line.startswith(" ")]) == 1, lines


def test_errors_end_the_program_in_its_main_only():
    """Library code raises ordinary exceptions; only an entry point's main turns them into a line and an exit
    code. No class derives from SystemExit and nothing raises it in mlengine (argparse's own exits aside)."""
    import ast
    for package in PACKAGES:
        folder = os.path.join(MLENGINE, package)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                tree = ast.parse(open(os.path.join(folder, name)).read())
                for node in ast.walk(tree):
                    where = f"{package}/{name}:{getattr(node, 'lineno', '?')}"
                    if isinstance(node, ast.ClassDef):
                        assert "SystemExit" not in map(ast.unparse, node.bases), where
                    if isinstance(node, ast.Raise) and node.exc is not None:
                        assert "SystemExit" not in ast.unparse(node.exc), where


def test_a_missing_tensorboard_is_one_line_saying_what_to_install(monkeypatch, capsys, tmp_path):
    """Without tensorboard (an extra, in requirements.txt) the job trained, then failed at its first summary
    with TensorFlow's traceback."""
    from trainer import task
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    assert task.main(["--job-dir", str(tmp_path / "job")]) == 1
    assert capsys.readouterr().err == ("trainer: the job writes TensorBoard summaries, which needs tensorboard: "
                                       "pip install -r mlengine/requirements.txt\n")
    assert not (tmp_path / "job").exists()


def test_the_job_refuses_a_read_only_job_dir_before_tensorflow_loads():
    job = scratch("cli-read-only")
    if os.geteuid() == 0:  # root writes through permissions: a read-only mount is what stops it
        mount_tmpfs(job, "ro,size=1m")
    else:
        os.chmod(job, 0o555)
    try:
        done, imported = run_counting_imports("trainer.task", "--job-dir", os.path.join(job, "job"))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", job], check=True)
        else:
            os.chmod(job, 0o755)
    why = "Read-only file system" if os.geteuid() == 0 else "Permission denied"
    assert done.returncode == 1 and not loaded_tensorflow(imported), done.stderr
    assert own_lines(done.stderr) == [f"trainer: --job-dir {job}/job: cannot write in {job} ({why}); give a "
                                      "folder this job can write, or another --job-dir"], done.stderr
