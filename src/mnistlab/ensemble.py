"""`mnistlab ensemble RUN_DIR...`: average the class probabilities of several trained runs.

Each member is rebuilt from its run dir (config.json + last checkpoint) and run on the whole test set; the
ensemble predicts the class of the mean of the members' softmax outputs. Members trained with different seeds
make different mistakes, so the mean fixes some of them: 5 x `best` is how mnistlab goes past one model's
accuracy. Cost: one test-set forward pass per member.
"""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished (or checkpointed) runs of the same dataset")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def ensemble(run_dirs: list, device: str = "auto") -> dict:
    """{"members": [{run_dir, recipe, seed, test_accuracy}], "test_accuracy", "mistakes", "dataset"}.
    Raises RunError when a folder is not a run or the runs do not share a dataset."""
    import torch
    from .data import load
    from .loop import resolve_device
    from .metrics import probabilities
    from .runs import RunDir, RunError
    dev = resolve_device(device)
    runs = [RunDir.open(d) for d in run_dirs]
    sources = {(r.config.get("dataset", "mnist"), r.config.get("data_dir")) for r in runs}
    if len(sources) > 1:
        raise RunError("an ensemble needs runs of one dataset; these were trained on "
                       + ", ".join(sorted(f"{d}" + (f" ({p})" if p else "") for d, p in sources)))
    dataset, data_dir = sources.pop()
    data = load(dataset, data_dir).to(dev)
    total = torch.zeros(len(data.test_y), 10, device=dev)
    members = []
    for run in runs:
        model, recipe = run.load_model(dev)
        p = probabilities(model, data.test_x)  # (N, 10)
        total += p
        members.append({"run_dir": str(run.path), "recipe": recipe.name, "seed": recipe.seed,
                        "test_accuracy": (p.argmax(1) == data.test_y).float().mean().item()})
    pred = total.argmax(1)
    accuracy = (pred == data.test_y).float().mean().item()
    return {"dataset": dataset, "members": members, "test_accuracy": accuracy,
            "mistakes": int((pred != data.test_y).sum()), "n_test": len(pred)}


def run(args) -> int:
    result = ensemble(args.run_dirs, args.device)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for m in result["members"]:
        print(f"{m['test_accuracy']:.2%}  {m['recipe']} seed {m['seed']}  {m['run_dir']}")
    best = max(m["test_accuracy"] for m in result["members"])
    print(f"ensemble of {len(result['members'])}: test accuracy {result['test_accuracy']:.2%} "
          f"({result['mistakes']} mistakes of {result['n_test']:,}); best member {best:.2%}")
    return 0
