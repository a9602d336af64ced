#!/usr/bin/env python3
"""The native reference for gpu-check: the same MLP (784-1000-1000-1000-10 or --widths, ReLU, SGD with
momentum 0.9, cross-entropy) trained in PyTorch on CUDA in float32 with TF32 off, on
synthetic data already on the GPU. Prints one JSON line: examplesPerSecond, or error."""
import argparse, json, sys, time

p = argparse.ArgumentParser()
p.add_argument('--batch', type=int, default=64)
p.add_argument('--steps', type=int, default=200)
p.add_argument('--widths', default='784,1000,1000,1000,10')
a = p.parse_args()
try:
    import torch
except Exception as e:  # no torch: say so, do not fail the check
    print(json.dumps({'error': f'no PyTorch ({e})'}))
    sys.exit(0)
if not torch.cuda.is_available():
    print(json.dumps({'error': f'PyTorch {torch.__version__} sees no CUDA device'}))
    sys.exit(0)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device('cuda')
torch.manual_seed(1)
widths = [int(w) for w in a.widths.split(',')]
layers = []
for i in range(len(widths) - 1):
    layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
    if i + 2 < len(widths):
        layers.append(torch.nn.ReLU())
net = torch.nn.Sequential(*layers).to(dev, torch.float32)
optim = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
x = torch.rand(16384, 784, device=dev)
y = torch.randint(0, 10, (16384,), device=dev)
loss_fn = torch.nn.CrossEntropyLoss()


def step(i):
    s = (i * a.batch) % (16384 - a.batch)
    optim.zero_grad(set_to_none=True)
    loss = loss_fn(net(x[s:s + a.batch]), y[s:s + a.batch])
    loss.backward()
    optim.step()
    return loss


for i in range(5):
    step(i)
torch.cuda.synchronize()
t0 = time.perf_counter()
for i in range(a.steps):
    loss = step(i)
loss = float(loss)  # the loss read back, as rectigrad reads its stats every step
torch.cuda.synchronize()
secs = time.perf_counter() - t0
print(json.dumps({'examplesPerSecond': a.steps * a.batch / secs, 'device': torch.cuda.get_device_name(0), 'torch': torch.__version__, 'loss': loss}))
