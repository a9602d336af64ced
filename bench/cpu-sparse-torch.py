# PyTorch (CPU, float32) on the same products as bench/cpu-sparse.ts: the paper network's
# forward, dX and dW of each layer with the same densities, dense BLAS products (PyTorch
# does not skip zeros), fastest call of interleaved rounds; plus one whole training step
# (autograd, relu, softmax cross-entropy) for scale. Examples/s of a step's matmuls.
#   /usr/bin/python3 bench/cpu-sparse-torch.py            (Debian's python3-torch)
#   THREADS=2 BATCHES=10,64,256 /usr/bin/python3 bench/cpu-sparse-torch.py
# OpenBLAS picks its kernels from the CPU it detects; on a CPU it does not recognise (some
# virtual machines) it falls back to a generic one: OPENBLAS_CORETYPE=SkylakeX (or the
# CPU's family) names it. On busy cores run it with OMP_WAIT_POLICY=PASSIVE: torch's
# OpenMP threads otherwise spin and starve OpenBLAS's own (4-8x slower steps here).
import os
import time

import torch

threads = int(os.environ.get("THREADS", "2"))
torch.set_num_threads(threads)
batches = [int(b) for b in os.environ.get("BATCHES", "10,64,256").split(",")]
rounds = int(os.environ.get("ROUNDS", "3"))
seconds = float(os.environ.get("SECONDS", "0.1"))
widths = [784, 1000, 1000, 1000, 10]
density = [0.19, 0.06, 0.14, 0.21, 1.0]
g = torch.Generator().manual_seed(1)


def sparse(shape, d):
    x = torch.rand(shape, generator=g) * 2 - 1
    return x * (torch.rand(shape, generator=g) < d)


def fastest(f):
    best = float("inf")
    t0 = time.perf_counter()
    runs = 0
    while time.perf_counter() - t0 < seconds or runs < 2:
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
        runs += 1
    return best


print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fastest call of {rounds} rounds of >= {seconds} s")
# STEP_ONLY=1: only the whole training step (bench/sparse-sweep.ts times it beside rectigrad).
with torch.no_grad():
    for B in [] if os.environ.get("STEP_ONLY") == "1" else batches:
        calls = []
        for l in range(4):
            n_in, n_out = widths[l], widths[l + 1]
            W = torch.rand(n_out, n_in, generator=g) * 0.1 - 0.05
            b = torch.rand(n_out, generator=g)
            X = sparse((B, n_in), density[l])
            dZ = sparse((B, n_out), density[l + 1])
            calls.append((f"fwd {l}", lambda X=X, W=W, b=b: torch.relu(torch.addmm(b, X, W.t()))))
            if l > 0:
                calls.append((f"dX  {l}", lambda dZ=dZ, W=W: dZ @ W))
            calls.append((f"dW  {l}", lambda dZ=dZ, X=X: dZ.t() @ X))
        best = [float("inf")] * len(calls)
        for _ in range(rounds):
            for i, (_, f) in enumerate(calls):
                best[i] = min(best[i], fastest(f))
        print(f"batch {B}: " + "  ".join(f"{n} {t * 1e3:.3f}" for (n, _), t in zip(calls, best)) + " ms")
        print(f"batch {B}: examples/s (matmuls of a step) {B / sum(best):.0f}")

# A whole training step with autograd, for scale (the matmuls are most of it).
for B in batches:
    layers = [torch.nn.Linear(widths[i], widths[i + 1]) for i in range(4)]
    model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2], torch.nn.ReLU(), layers[3])
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    X = sparse((B, 784), density[0]).abs()
    y = torch.randint(0, 10, (B,), generator=g)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()

    t = min(fastest(step) for _ in range(rounds))
    print(f"batch {B}: examples/s (whole training step, autograd) {B / t:.0f}")
