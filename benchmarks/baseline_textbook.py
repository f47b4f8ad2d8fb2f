"""The textbook PyTorch MNIST loop, as a yardstick for mnistlab's speed (issue: measured side by side).

This is pytorch/examples' mnist/main.py: its network (2 convs, dropout, 128-unit dense layer), Adadelta
lr 1.0 with StepLR(gamma 0.7), batch 64, a DataLoader over a map-style Dataset that converts and normalises
one image at a time in Python (as torchvision's MNIST + ToTensor + Normalize do), per-batch transfer to the
device, and a test pass over all 10,000 images after every epoch. Only torchvision is left out: the images
come from mnistlab's bundled IDX files as uint8, as torchvision keeps them.

    python benchmarks/baseline_textbook.py [--epochs 14] [--stop-at 0.99] [--json FILE]

Time to accuracy counts the test passes, as mnistlab's does; the clock starts at the first batch.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from mnistlab.data import load
from mnistlab.loop import device_name, peak_memory_mb, resolve_device
from mnistlab.metrics import time_to_accuracy


class Net(nn.Module):  # pytorch/examples mnist/main.py, unchanged
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return F.log_softmax(self.fc2(x), dim=1)


class Digits(TorchDataset):
    """uint8 images, converted and normalised per item like ToTensor() + Normalize((0.1307,), (0.3081,))."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i].float().div(255).sub(0.1307).div(0.3081)
        return x, int(self.labels[i])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=14, help="the example's default")
    p.add_argument("--stop-at", type=float, default=None, help="stop after the first epoch at this test accuracy")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=1, help="the example's default")
    p.add_argument("--json", help="write the per-epoch figures here")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    data = load("mnist")
    as_uint8 = lambda x: (x * 255).round().to(torch.uint8)  # noqa: E731
    cuda = dict(num_workers=1, pin_memory=True) if device.type == "cuda" else {}
    train_loader = DataLoader(Digits(as_uint8(data.train_x), data.train_y), batch_size=64, shuffle=True, **cuda)
    test_loader = DataLoader(Digits(as_uint8(data.test_x), data.test_y), batch_size=1000, **cuda)
    model = Net().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)

    epochs, t0, steps = [], time.perf_counter(), 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
            steps += 1
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                x, y = x.to(device), y.to(device)
                correct += (model(x).argmax(1) == y).sum().item()
        scheduler.step()
        acc = correct / len(test_loader.dataset)
        epochs.append({"epoch": epoch, "seconds": round(time.perf_counter() - t0, 2), "test_accuracy": acc})
        print(f"epoch {epoch}: test accuracy {acc:.2%} after {epochs[-1]['seconds']:.1f} s", flush=True)
        if args.stop_at is not None and acc >= args.stop_at:
            break
    seconds = time.perf_counter() - t0
    result = {"name": "textbook (pytorch/examples mnist)", "device": device_name(device),
              "threads": torch.get_num_threads(), "epochs": epochs, "steps_per_second": round(steps / seconds, 2),
              "max_test_accuracy": max(e["test_accuracy"] for e in epochs),
              "time_to_accuracy": time_to_accuracy([(e["seconds"], e["test_accuracy"]) for e in epochs],
                                                   (0.98, 0.99, 0.995)),
              "peak_memory_mb": peak_memory_mb(device)}
    print(json.dumps(result["time_to_accuracy"]), f"{result['steps_per_second']} steps/s")
    if args.json:
        from mnistlab.runs import write_json_atomic
        write_json_atomic(args.json, result)


if __name__ == "__main__":
    main()
