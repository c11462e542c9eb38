#!/usr/bin/env python3
"""ddx against numpy, JAX and PyTorch on the seed model, in one run.

Usage: python3 benches/peers/peers.py   (from the repository root; any
python with whichever of numpy / jax / torch are installed: the others are
skipped). It first runs ddx's side (`cargo bench --bench peers_ddx`,
release), then the same work in each peer, and prints each time and ddx's
ratio (peer time / ddx time: above 1 means ddx is faster).

The work, on the seed model (examples/regression.ddx: y ~ m*x + b, loss
mean((m*x + b - y)^2), float64 everywhere):
- grad n=8: one loss + gradient evaluation over the 8 seed rows;
- grad n=1e7: the same over 10^7 rows (ddx on all cores, and on 1 thread);
- train 1000: 1000 SGD epochs (lr 0.01) from m = 0.9, b = 0.1, in-process;
- first call: from the model's definition to the first loss + gradient
  (ddx: parse, check, diff, simplify, Cranelift; JAX: trace + XLA compile
  of the jitted value_and_grad; PyTorch: the first eager autograd call;
  numpy has no compile step: its first call).

Peers compute the gradient the way their users would: numpy by the formula
written by hand, JAX with jax.value_and_grad under jax.jit (the training loop
jitted whole with lax.fori_loop), PyTorch eager autograd.
Times are medians of repeated batches (time.perf_counter).
"""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
X8 = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
Y8 = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37]
N = 10_000_000


def median(batches, per, f):
    times = []
    for _ in range(batches):
        t = time.perf_counter()
        for _ in range(per):
            f()
        times.append((time.perf_counter() - t) / per)
    times.sort()
    return times[len(times) // 2]


def big_data(np):
    x = (np.arange(N) % 1000).astype(np.float64) * 0.007
    y = 1.8 - 0.47 * x + 0.01 * np.sin(x * 13.0)
    return x, y


def run_ddx():
    out = subprocess.run(
        ["cargo", "bench", "-q", "--bench", "peers_ddx"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def run_numpy():
    import numpy as np

    def grad(m, b, x, y):
        r = m * x + b - y
        n = x.shape[0]
        return np.dot(r, r) / n, 2.0 * np.dot(r, x) / n, 2.0 * r.sum() / n

    x8, y8 = np.array(X8), np.array(Y8)
    res = {}
    t = time.perf_counter()
    grad(0.9, 0.1, x8, y8)
    res["first_call"] = time.perf_counter() - t
    res["grad_8"] = median(31, 2000, lambda: grad(0.9, 0.1, x8, y8))
    xb, yb = big_data(np)
    res["grad_1e7"] = median(7, 1, lambda: grad(0.9, 0.1, xb, yb))
    del xb, yb

    def train():
        m, b = 0.9, 0.1
        for _ in range(1000):
            _, gm, gb = grad(m, b, x8, y8)
            m -= 0.01 * gm
            b -= 0.01 * gb
        return m, b

    res["train_1000"] = median(7, 1, train)
    return "numpy " + np.__version__, res


def run_jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def loss(p, x, y):
        r = p[0] * x + p[1] - y
        return jnp.mean(r * r)

    x8, y8 = jnp.array(X8), jnp.array(Y8)
    p0 = jnp.array([0.9, 0.1])
    vg = jax.jit(jax.value_and_grad(loss))
    res = {}
    t = time.perf_counter()
    jax.block_until_ready(vg(p0, x8, y8))
    res["first_call"] = time.perf_counter() - t
    res["grad_8"] = median(31, 500, lambda: jax.block_until_ready(vg(p0, x8, y8)))
    import numpy as np

    xb, yb = big_data(np)
    xb, yb = jnp.array(xb), jnp.array(yb)
    jax.block_until_ready(vg(p0, xb, yb))
    res["grad_1e7"] = median(7, 1, lambda: jax.block_until_ready(vg(p0, xb, yb)))
    del xb, yb

    @jax.jit
    def train(p):
        g = jax.grad(loss)

        def step(_, p):
            return p - 0.01 * g(p, x8, y8)

        return jax.lax.fori_loop(0, 1000, step, p)

    jax.block_until_ready(train(p0))
    res["train_1000"] = median(31, 20, lambda: jax.block_until_ready(train(p0)))
    return "jax " + jax.__version__, res


def run_torch():
    import torch

    torch.set_default_dtype(torch.float64)
    x8, y8 = torch.tensor(X8), torch.tensor(Y8)

    def grad(p, x, y):
        p = p.detach().requires_grad_(True)
        r = p[0] * x + p[1] - y
        l = (r * r).mean()
        l.backward()
        return l.item(), p.grad

    res = {}
    p0 = torch.tensor([0.9, 0.1])
    t = time.perf_counter()
    grad(p0, x8, y8)
    res["first_call"] = time.perf_counter() - t
    res["grad_8"] = median(31, 200, lambda: grad(p0, x8, y8))
    import numpy as np

    xb, yb = big_data(np)
    xb, yb = torch.from_numpy(xb), torch.from_numpy(yb)
    res["grad_1e7"] = median(7, 1, lambda: grad(p0, xb, yb))
    del xb, yb

    def train():
        p = p0.clone()
        for _ in range(1000):
            _, g = grad(p, x8, y8)
            p = p - 0.01 * g
        return p

    res["train_1000"] = median(5, 1, train)
    return "torch " + torch.__version__, res


def run_c():
    """The plain C loops, built with gcc -O2: the 10^7-row loss + gradient
    (benches/peers/seed_loop.c) and the 1000 epochs (seed_train.c), by hand,
    no autodiff."""
    times = {}
    for name, key in (("seed_loop", "grad_1e7"), ("seed_train", "train_1000")):
        exe = "/tmp/ddx_" + name
        try:
            subprocess.run(["gcc", "-O2", "-o", exe,
                            os.path.join(ROOT, "benches/peers", name + ".c"), "-lm"],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            raise ImportError("gcc")
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
        if name == "seed_loop":
            times[key] = json.loads(out)["c_loop_1e7"]
        else:
            times[key] = float(out.split()[1]) * 1e-6  # "c <us>"
    return "C -O2 (by hand)", times


def fmt(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.2f} us"
    return f"{s * 1e9:.1f} ns"


def main():
    print(f"python {sys.version.split()[0]}; running ddx (cargo bench --bench peers_ddx) ...",
          flush=True)
    d = run_ddx()
    ddx = {
        "grad_8": d["grad_8"],
        "grad_1e7": d["grad_1e7_nt"],
        "train_1000": d["train_1000"],
        "first_call": d["compile_first_call"],
    }
    rows = [("grad n=8", "grad_8"), ("grad n=1e7", "grad_1e7"),
            ("train 1000 epochs", "train_1000"), ("first call", "first_call")]
    print(f"ddx: grad n=1e7 on 1 thread {fmt(d['grad_1e7_1t'])}, "
          f"on {d['threads']} threads {fmt(d['grad_1e7_nt'])} (the ratios use the latter); "
          f"train 1000 epochs one-off (per-epoch path) {fmt(d['train_1000_per_epoch'])}")
    peers = []
    for runner in (run_c, run_numpy, run_jax, run_torch):
        name = runner.__name__[4:]
        try:
            peers.append(runner())
            print(f"{name}: done", flush=True)
        except ImportError:
            print(f"{name}: not installed, skipped", flush=True)
    head = f"| work | ddx |" + "".join(f" {n} | ratio |" for n, _ in peers)
    print()
    print(head)
    print("|" + "---|" * (2 + 2 * len(peers)))
    for label, key in rows:
        line = f"| {label} | {fmt(ddx[key])} |"
        for _, res in peers:
            if key in res:
                line += f" {fmt(res[key])} | {res[key] / ddx[key]:.1f}x |"
            else:
                line += " - | - |"
        print(line)


if __name__ == "__main__":
    main()
