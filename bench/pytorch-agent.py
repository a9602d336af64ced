# The bench's PyTorch engine (pytorch-cpu@python): the same training cells as the
# JavaScript engines (bench/spec.ts), answered over stdin/stdout, one JSON object a line,
# for bench/python-host.ts. The host sends each cell with its initial weights (the cell's:
# rectigrad's seeded ones, or the sparse workload's trained checkpoint), so the losses can
# be compared: the same batches in the same order (step k: batch k mod batches), the same
# L1 activation term and the same momentum update as rectigrad's.
#   python3 bench/pytorch-agent.py THREADS
# First line out: {"ready": true, "info": ...}, or {"ready": false, "error": why} (no torch).
# Then per request {"id", "req"}: {"id", "ok": true, "result"} or {"id", "ok": false, "error"}.
# OpenBLAS picks its kernels from the CPU it detects, or from OPENBLAS_CORETYPE where set:
# the info says which it took.
import base64
import ctypes
import json
import os
import platform
import sys
import time


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # no torch here: the bench says so in PyTorch's rows
    send({"ready": False, "error": f"{sys.executable} cannot import torch ({type(e).__name__}: {e})"})
    sys.exit(0)

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)


def blas():
    """The BLAS torch computes with: OpenBLAS's version and the kernels (core) it chose, where it says."""
    torch.ones(64, 64) @ torch.ones(64, 64)  # loads and initialises the library
    seen = set()
    try:
        with open("/proc/self/maps") as maps:
            paths = [line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line]
    except OSError:
        paths = []
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            config = lib.openblas_get_config().decode()
            return {"name": "OpenBLAS", "core": lib.openblas_get_corename().decode(), "config": config}
        except (OSError, AttributeError):
            continue
    if torch.backends.mkl.is_available():
        return {"name": "MKL", "core": None, "config": None}
    return {"name": "BLAS", "core": None, "config": None}


def floats(b64, n=None):
    t = torch.frombuffer(bytearray(base64.b64decode(b64)), dtype=torch.float32)
    return t if n is None else t.reshape(n)


BLAS = blas()
openblas_version = BLAS["config"].split()[1] if BLAS["config"] and BLAS["config"].startswith("OpenBLAS ") else None
kernels = f" ({BLAS['core']} kernels)" if BLAS["core"] else ""
coretype = os.environ.get("OPENBLAS_CORETYPE")
wait_policy = os.environ.get("OMP_WAIT_POLICY")
INFO = {
    "adapter": {
        "kind": "cpu",
        "vendor": "",
        "architecture": "",
        "description": f"PyTorch on the CPU (float32, {torch.get_num_threads()} threads; {BLAS['name']}{' ' + openblas_version if openblas_version else ''}{kernels})",
        "isFallback": False,
        "threads": torch.get_num_threads(),
    },
    "versions": {"torch": torch.__version__, "python": platform.python_version(), **({"OpenBLAS": openblas_version} if openblas_version else {})},
    # Set but empty is not unset: OpenBLAS then forces a core of its own choosing.
    "notes": [f"OPENBLAS_CORETYPE={coretype}" if coretype else "OPENBLAS_CORETYPE unset" if coretype is None else "OPENBLAS_CORETYPE set but empty"]
    + ([f"OpenBLAS core {BLAS['core']}"] if BLAS["core"] else [])
    + [f"OMP_WAIT_POLICY={wait_policy}" if wait_policy is not None else "OMP_WAIT_POLICY unset"],
}


class Session:
    """A cell: the network (nn.Linear weights are [outputs × inputs], as rectigrad stores them), its batches, SGD or momentum."""

    def __init__(self, cell, layers):
        px = torch.frombuffer(bytearray(base64.b64decode(cell["pixels"])), dtype=torch.uint8)
        self.batch = cell["batch"]
        self.batches = cell.get("batches", 1)
        x = (px.to(torch.float32) * cell["scale"] + cell["shift"]).reshape(self.batches * self.batch, cell["features"])
        y = torch.tensor(cell["labels"], dtype=torch.long)
        # Step k trains on examples [(k mod batches)·batch, …): rectigrad's unshuffled order.
        self.xs = [x[i * self.batch : (i + 1) * self.batch].contiguous() for i in range(self.batches)]
        self.ys = [y[i * self.batch : (i + 1) * self.batch].contiguous() for i in range(self.batches)]
        # rectigrad's L1 activation penalty: the loss gains (λ/B)·Σ|a| over every hidden
        # layer's relu outputs, so dA gains (λ/B)·sign(a) (src/ops/activation-backward.ts).
        self.l1 = float(cell.get("l1") or 0)
        self.linears = []
        self.init = []
        for l in layers:
            lin = torch.nn.Linear(l["inputs"], l["outputs"])
            w = floats(l["w"], (l["outputs"], l["inputs"]))
            b = floats(l["b"], (l["outputs"],))
            self.init += [w.clone(), b.clone()]
            self.linears.append(lin)
        self.params = [p for lin in self.linears for p in (lin.weight, lin.bias)]
        # rectigrad's momentum (src/ops/optimizer.ts): m = μ·m + g; w −= lr·m, m starting at
        # zero; torch's SGD with momentum, no dampening and no Nesterov, is that same rule
        # (its first step takes m = g, which is μ·0 + g).
        momentum = cell.get("momentum")
        self.opt = torch.optim.SGD(self.params, lr=cell["lr"], momentum=momentum or 0)
        self.k = 0
        self.reset()

    def reset(self):
        """The cell's weights, no momentum yet, the first batch next."""
        with torch.no_grad():
            for p, v in zip(self.params, self.init):
                p.copy_(v)
        self.opt.state.clear()
        self.k = 0

    def forward(self, x):
        """Logits, and the sum of |a| over the hidden layers' relu outputs."""
        a = x
        penalty = None
        for lin in self.linears[:-1]:
            a = torch.relu(lin(a))
            if self.l1:
                s = a.abs().sum()
                penalty = s if penalty is None else penalty + s
        return self.linears[-1](a), penalty

    def step(self):
        i = self.k % self.batches
        self.k += 1
        self.opt.zero_grad()
        logits, penalty = self.forward(self.xs[i])
        # The loss read back is the cross-entropy alone, as rectigrad reports it.
        loss = F.cross_entropy(logits, self.ys[i])
        total = loss if penalty is None else loss + (self.l1 / self.batch) * penalty
        total.backward()
        self.opt.step()
        return loss

    def first(self):
        return {"loss": self.step().item()}

    def measure(self, variant, steps, after):
        self.reset()
        every = variant != "no-readback"
        last = None
        t0 = time.perf_counter()
        for i in range(steps):
            loss = self.step()
            if every or i == steps - 1:
                last = loss.item()
        ms = (time.perf_counter() - t0) * 1e3
        out = {"ms": ms, "steps": steps, "lossLast": last}
        if after:
            # As rectigrad's one more step: the next batch's loss at the weights the steps left.
            i = self.k % self.batches
            with torch.no_grad():
                out["lossAfter"] = F.cross_entropy(self.forward(self.xs[i])[0], self.ys[i]).item()
        return out


sessions = {}


def handle(req):
    op = req["op"]
    if op == "open":
        if req["cell"]["kind"] != "train":
            raise ValueError("PyTorch runs the training workloads only")
        t0 = time.perf_counter()
        s = Session(req["cell"], req["layers"])
        t1 = time.perf_counter()
        r = s.first()
        sessions[req["session"]] = s
        info = dict(INFO, notes=INFO["notes"] + [f"set-up {(t1 - t0) * 1e3:.0f} ms"])
        return {"info": info, "firstStepMs": (time.perf_counter() - t1) * 1e3, **r}
    if op == "measure":
        return sessions[req["session"]].measure(req["variant"], req["steps"], req.get("after", False))
    if op == "profile":
        return None
    if op == "close":
        sessions.pop(req["session"], None)
        return None
    raise ValueError(f"unknown request {op}")


send({"ready": True, "info": INFO})
for line in sys.stdin:
    if not line.strip():
        continue
    m = json.loads(line)
    if m["req"].get("op") == "exit":
        send({"id": m["id"], "ok": True, "result": None})
        break
    try:
        send({"id": m["id"], "ok": True, "result": handle(m["req"])})
    except Exception as e:
        send({"id": m["id"], "ok": False, "error": f"{type(e).__name__}: {e}"})
