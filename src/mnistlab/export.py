"""`mnistlab export RUN_DIR --format onnx|torchscript`: the trained model as one self-contained file.

The preprocessing contract (also stored inside the file: ONNX metadata, TorchScript extra file):

    input   "image"   float32 (N, 1, 28, 28), values in [0, 1], a light digit on a black background,
                      size-normalised into a 20x20 box and centred by centre of mass in the 28x28 field,
                      the way MNIST was made. `mnistlab.preprocess.to_mnist` turns any picture into this.
    output  "logits"  float32 (N, 10); softmax(logits) are the class probabilities, argmax the class.

Before the file is put in place it is loaded back (onnxruntime / torch.jit.load) and run on the whole test
set of the run's dataset; it must give the same class as the PyTorch model for every image. The file is
written to a temp name and renamed, so a failed export or check leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
CONTRACT = ("input 'image': float32 (N, 1, 28, 28) in [0, 1], light digit on black, MNIST-style: fitted into "
            "a 20x20 box and centred by centre of mass (mnistlab.preprocess.to_mnist); "
            "output 'logits': float32 (N, 10), softmax gives the class probabilities")
MAX_LOGIT_DIFF = 1e-3  # float32 kernels differ in summation order; a real export bug is off by far more


class ExportError(Exception):
    """The model could not be exported or its file does not behave like the PyTorch model."""


def add_arguments(p, name: str) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=sorted(FORMATS), default="onnx")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write (default ./<run name>.onnx or .pt)")


def metadata(run, recipe, classes: list[str]) -> dict[str, str]:
    return {"mnistlab.preprocessing": CONTRACT, "mnistlab.classes": json.dumps(classes),
            "mnistlab.recipe": json.dumps(recipe.to_dict()), "mnistlab.run": run.path.resolve().name}


def to_onnx(model, path: Path, meta: dict[str, str]) -> None:
    """The model as ONNX (opset 18, dynamic batch) via torch.export; weights inside the one file."""
    import torch
    with _quiet():
        # opset 18: the oldest the torch.export path writes; runs on onnxruntime >= 1.14
        program = torch.onnx.export(model, (torch.zeros(2, 1, 28, 28),), None, input_names=["image"],
                                    output_names=["logits"], dynamo=True, external_data=False, verbose=False,
                                    opset_version=18, dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}})
    proto = program.model_proto
    proto.doc_string = "mnistlab digit classifier. " + CONTRACT
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path.write_bytes(proto.SerializeToString())


def to_torchscript(model, path: Path, meta: dict[str, str]) -> None:
    import torch
    scripted = torch.jit.trace(model, torch.zeros(2, 1, 28, 28))  # the ladder's nets have no data-dependent flow
    torch.jit.save(scripted, str(path), _extra_files={"mnistlab.json": json.dumps(meta)})


def onnx_logits(path: Path):
    """A function (N,1,28,28) array -> (N,10) logits running the file in onnxruntime on one CPU thread."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(["logits"], {"image": x})[0]


def torchscript_logits(path: Path):
    import torch
    module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(x):
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()
    return run


def check(model, run_file, test_x, batch: int = 1000) -> dict:
    """Run the exported file and the PyTorch model on every test image: how many predictions agree and
    the largest absolute difference of a logit."""
    import numpy as np
    import torch
    agree, max_diff = 0, 0.0
    for i in range(0, len(test_x), batch):
        x = test_x[i:i + batch]  # (b, 1, 28, 28)
        with torch.inference_mode():
            ref = model(x).numpy()
        got = run_file(x.numpy())
        agree += int((ref.argmax(1) == got.argmax(1)).sum())
        max_diff = max(max_diff, float(np.abs(ref - got).max()))
    return {"images": len(test_x), "same_class": agree, "max_abs_logit_diff": max_diff}


def export(run_dir, fmt: str = "onnx", output: str | Path | None = None) -> tuple[Path, dict]:
    """Export a run's model, check it on the test set, then put it in place; returns (path, check result)."""
    import torch
    from .data import load
    from .runs import RunDir
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    run = RunDir.open(run_dir)
    model, recipe = run.load_model("cpu")
    config = run.config
    data = load(config.get("dataset", "mnist"), config.get("data_dir"))
    out = Path(output) if output else Path.cwd() / (run.path.resolve().name + FORMATS[fmt])
    if out.is_dir():
        raise ValueError(f"-o {out} is a directory; give a file name")
    if not out.parent.is_dir():
        raise ValueError(f"-o {out}: folder {out.parent} does not exist")
    torch.set_num_threads(1)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix="." + out.name, suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an exported model is as readable as any new file
    try:
        meta = metadata(run, recipe, data.classes)
        try:
            (to_onnx if fmt == "onnx" else to_torchscript)(model, tmp, meta)
        except Exception as e:  # noqa: BLE001  (exporters raise many types)
            raise ExportError(f"could not export {run.path} to {fmt}: {type(e).__name__}: {e}") from None
        result = check(model, (onnx_logits if fmt == "onnx" else torchscript_logits)(tmp), data.test_x)
        if result["same_class"] != result["images"] or result["max_abs_logit_diff"] > MAX_LOGIT_DIFF:
            raise ExportError(f"the {fmt} file disagrees with PyTorch: same class on {result['same_class']:,} of "
                              f"{result['images']:,} test images, max |logit difference| "
                              f"{result['max_abs_logit_diff']:.3g}; nothing written")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out, result


class _quiet:
    """Silence the exporter's progress lines and warnings (they go to stdout/stderr from C++ and Python)."""

    def __enter__(self):
        import logging
        import warnings
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        self._level = logging.getLogger("torch").level
        logging.getLogger("torch").setLevel(logging.ERROR)
        sys.stdout.flush()
        self._saved = os.dup(1)
        self._null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 1)

    def __exit__(self, *exc):
        import logging
        sys.stdout.flush()
        os.dup2(self._saved, 1)
        os.close(self._saved)
        os.close(self._null)
        logging.getLogger("torch").setLevel(self._level)
        self._warnings.__exit__(*exc)


def run(args) -> int:
    try:
        import torch  # noqa: F401
        if args.format == "onnx":
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
            import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as e:
        print(f"mnistlab: error: export needs {e.name}; install the web extra: pip install 'mnistlab[web]'",
              file=sys.stderr)
        return 2
    try:
        path, result = export(args.run_dir, args.format, args.output)
    except ValueError as e:
        print(f"mnistlab: error: {e}", file=sys.stderr)
        return 2
    except ExportError as e:
        print(f"mnistlab: error: {e}", file=sys.stderr)
        return 1
    print(f"checked against PyTorch on the {result['images']:,} test images: same class for "
          f"{result['same_class']:,}, max |logit difference| {result['max_abs_logit_diff']:.2g}")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {args.format})")
    print(f"contract: {CONTRACT}")
    return 0
