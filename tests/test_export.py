"""`mnistlab export`: the ONNX and TorchScript files give the PyTorch model's answers on the test set."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from web_helpers import trained_run

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    return trained_run(tmp_path_factory)


def test_onnx_export_matches_pytorch(run_dir, tmp_path, mnist, capsys):
    import onnx
    import onnxruntime as ort
    from mnistlab.cli import main
    from mnistlab.runs import RunDir
    out = tmp_path / "model.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "-o", str(out)]) == 0  # the CLI, in-process
    printed = capsys.readouterr().out
    assert "same class for 10,000" in printed and "max |logit difference|" in printed
    assert out.stat().st_size > 10_000
    proto = onnx.load(out)
    meta = {m.key: m.value for m in proto.metadata_props}
    assert "28, 28" in meta["mnistlab.preprocessing"] and json.loads(meta["mnistlab.classes"])[7] == "7"
    # independently of the command's own check: any batch size, same logits as PyTorch
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    model, _ = RunDir(run_dir).load_model()
    for n in (1, 37):
        x = mnist.test_x[100:100 + n]
        got = session.run(["logits"], {"image": x.numpy()})[0]
        with torch.inference_mode():
            want = model(x).numpy()
        assert got.shape == (n, 10)
        assert np.abs(got - want).max() < 1e-4 and (got.argmax(1) == want.argmax(1)).all()


def test_torchscript_export_default_name(run_dir, tmp_path, mnist, monkeypatch):
    from mnistlab.export import export
    monkeypatch.chdir(tmp_path)
    out, result = export(run_dir, "torchscript")
    assert out == tmp_path / (run_dir.name + ".pt") and out.is_file()
    assert result["same_class"] == result["images"] == 10_000
    module = torch.jit.load(str(out))
    x = mnist.test_x[:500]
    from mnistlab.runs import RunDir
    model, _ = RunDir(run_dir).load_model()
    with torch.inference_mode():
        assert torch.equal(module(x).argmax(1), model(x).argmax(1))
    assert not list(tmp_path.glob(".*tmp")), "temp file left behind"


def test_export_bad_input(run_dir, tmp_path, capsys):
    from mnistlab.export import export
    from mnistlab.runs import RunError
    with pytest.raises(RunError, match="not a run dir"):
        export(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        export(run_dir, "onnx", tmp_path / "missing" / "m.onnx")
    with pytest.raises(ValueError, match="is a directory"):
        export(run_dir, "onnx", tmp_path)
    from mnistlab.cli import main
    assert main(["export", str(tmp_path / "nothing-here")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mnistlab: error:") and "not a run dir" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="unknown format"):
        export(run_dir, "tflite")
    assert list(tmp_path.iterdir()) == []
