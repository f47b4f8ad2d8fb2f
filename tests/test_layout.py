"""The house rules, checked from the source: what stands at the top, who imports what, no import circles,
and a README whose code map names every module there is."""
import ast
import os
import re

import course
from conftest import ROOT, SCRIPTS

PACKAGES = {"visualiser": os.path.join(ROOT, "visualiser"),
            **{name: os.path.join(ROOT, "mlengine", name) for name in ("trainer", "serving", "search")}}


def modules():
    """{module name: path} of the repository's own modules (the top, visualiser/, mlengine/trainer/)."""
    found = {name[:-3]: os.path.join(ROOT, name) for name in os.listdir(ROOT) if name.endswith(".py")}
    for package, folder in PACKAGES.items():
        for name in os.listdir(folder):
            if name.endswith(".py"):
                found[package if name == "__init__.py" else f"{package}.{name[:-3]}"] = os.path.join(folder, name)
    return found


def imports(name, path):
    """The repository's modules that `name` imports, anywhere in its file (inside functions too)."""
    known, out = modules(), set()
    package = name if os.path.basename(path) == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(filter(None, [package.rsplit(".", node.level - 1)[0] if node.level > 1 else package,
                                              node.module]))
            for a in node.names:
                full = f"{base}.{a.name}" if base else a.name
                out |= {m for m in (full, base) if m in known and m != name}
    return out


def test_at_the_top_only_the_steps_and_the_three_shared_modules():
    top = sorted(f for f in os.listdir(ROOT) if f.endswith(".py"))
    assert top == sorted(SCRIPTS + ["course.py", "mnistdata.py", "tensorflowvisu.py"])


def test_no_import_circles_anywhere():
    graph = {name: imports(name, path) for name, path in modules().items()}
    done, path = set(), []

    def visit(node):
        if node in path:
            raise AssertionError("import circle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        path.append(node)
        for nxt in graph.get(node, ()):
            visit(nxt)
        path.pop()
        done.add(node)
    for node in graph:
        visit(node)


def third_party(path):
    out = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            out.add((node.module or "").split(".")[0])
    return out


def test_the_steps_import_only_the_course_and_tensorflow():
    for script in SCRIPTS:
        assert third_party(os.path.join(ROOT, script)) <= {"tensorflowvisu", "mnistdata", "tensorflow", "numpy",
                                                           "math"}, script


def test_only_the_visualiser_draws_and_nothing_imports_torch():
    for name, path in modules().items():
        used = third_party(path)
        assert "torch" not in used, name
        if "matplotlib" in used:
            assert name.startswith("visualiser.") or name == "search.hpreport", name


def test_the_steps_are_found_in_one_place():
    """Nothing but course.steps() lists the step scripts: no copy of their names in tests or benchmarks."""
    pattern = re.compile(r"mnist_\d\.\d_\w+\.py")
    for folder in ("tests", "benchmarks"):
        for name in os.listdir(os.path.join(ROOT, folder)):
            if name.endswith(".py") and name not in ("test_layout.py", "test_scripts.py"):
                named = set(pattern.findall(open(os.path.join(ROOT, folder, name)).read())) & set(SCRIPTS)
                assert len(named) <= 3, (name, named)      # a test may name the steps it runs, not list them all
    assert list(course.steps()) == [re.match(r"mnist_(\d+\.\d+)_", s).group(1) for s in SCRIPTS]


def test_the_readme_code_map_names_every_module():
    readme = open(os.path.join(ROOT, "README.md")).read()
    code_map = readme[readme.index("## How the code is laid out"):]
    for name in modules():
        if name.startswith("visualiser."):
            assert name.split(".")[1] in code_map, name
    mlengine = code_map[code_map.index("mlengine/"):code_map.index("data/ ")]
    for name in modules():  # each application's folder, and every module in it by name
        package, _, module = name.partition(".")
        if package in ("trainer", "serving", "search"):
            assert f"{package}/" in mlengine and (not module or re.search(rf"\b{module}\b", mlengine)), name
    for name in ("tensorflowvisu.py", "mnistdata.py", "course.py", "visualiser/", "mlengine/", "benchmarks/"):
        assert name in code_map, name
    assert not re.search(r"visu(panels|live|web|notebook|board)\.py", readme)


def test_the_readme_steps_table_is_the_ladders_results_file():
    """The README's steps table is what `benchmarks/ladder.py --readme` renders from its results file, not
    figures typed by hand (a figure edited in one place and not the other fails here)."""
    import json
    import ladder
    results = json.load(open(os.path.join(ROOT, "benchmarks", "results", "ladder.json")))
    readme = open(os.path.join(ROOT, "README.md")).read()
    block = readme.split("<!-- ladder:start -->", 1)[1].split("<!-- ladder:end -->", 1)[0]
    assert ladder.table([results["steps"][s] for s in sorted(results["steps"])]) in block
    assert set(results["steps"]) == set(course.steps())       # every step measured


def test_the_repository_passes_its_linter():
    """ruff, as pyproject.toml's [tool.ruff] configures it (pyflakes, pycodestyle), on every Python file: an
    unused import, an undefined name or a stray line fails here as it would in review."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", ROOT],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def test_the_tests_import_without_editing_sys_path():
    """pyproject.toml's pytest `pythonpath` is the one place that says where the tests import from."""
    edits = re.compile(r"sys\.path\s*(\.\s*(insert|append|extend)\b|\[|\+?=)")
    for name in os.listdir(os.path.join(ROOT, "tests")):
        if name.endswith(".py"):
            assert not edits.search(open(os.path.join(ROOT, "tests", name)).read()), name
