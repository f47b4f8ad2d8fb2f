"""Why bn_cnn pools before batch norm and uses channels-last: training images/s of the four combinations.

    python benchmarks/layout_ab.py

Channels 16-32-64 (the `fast` network), batch 128, forward + backward + Nesterov SGD step on random images;
10 warm-up steps, then 60 timed; 5 rounds through the four variants in turn, median and range printed.
"""
import time, torch, statistics
import torch.nn as nn, torch.nn.functional as F
def net(pool_first, ch=(16,32,64)):
    L=[]; cin=1
    for c in ch:
        if pool_first: L += [nn.Conv2d(cin,c,3,padding=1,bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c), nn.ReLU()]
        else: L += [nn.Conv2d(cin,c,3,padding=1,bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
        cin=c
    return nn.Sequential(*L, nn.Flatten(), nn.Linear(cin*9,10))
def speed(pool_first, cl, n=60, B=128):
    torch.manual_seed(0); m=net(pool_first)
    if cl: m=m.to(memory_format=torch.channels_last)
    opt=torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    x=torch.rand(B,1,28,28); y=torch.randint(0,10,(B,))
    for i in range(n+10):
        if i==10: t=time.perf_counter()
        loss=F.cross_entropy(m(x),y); opt.zero_grad(); loss.backward(); opt.step()
    return n*B/(time.perf_counter()-t)
res={k:[] for k in [(0,0),(0,1),(1,0),(1,1)]}
for r in range(5):
    for k in res: res[k].append(speed(*k))
for k,v in res.items(): print(f"pool_first={k[0]} channels_last={k[1]}: {statistics.median(v):.0f} img/s (min {min(v):.0f}, max {max(v):.0f})")
