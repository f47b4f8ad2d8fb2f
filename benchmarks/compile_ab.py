"""Does torch.compile pay for the `fast` network on this CPU? 350 training steps eager vs compiled.

    python benchmarks/compile_ab.py
"""
import time, torch, torch.nn.functional as F
from mnistlab.recipes import get_recipe
from mnistlab.models import build_model
r = get_recipe("fast")
for compiled in (False, True):
    torch.manual_seed(0)
    m = build_model(r).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    f = torch.compile(m) if compiled else m
    x = torch.rand(128, 1, 28, 28); y = torch.randint(0, 10, (128,))
    t0 = time.perf_counter()
    for i in range(350):
        if i == 10: t1 = time.perf_counter()
        loss = F.cross_entropy(f(x), y); opt.zero_grad(); loss.backward(); opt.step()
    t = time.perf_counter()
    print(f"compiled={compiled}: 350 steps {t - t0:.1f} s in all, first 10 steps {t1 - t0:.1f} s, then {340 / (t - t1):.0f} steps/s")
