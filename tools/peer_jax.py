#!/usr/bin/env python3
"""Peer timings on this machine: JAX/XLA (CPU, one thread) value + gradient
of the shapes the crate's benches use, for a side-by-side with criterion.
Not a dependency of the crate or its tests.

usage: python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax optax
       XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
       taskset -c 0 /tmp/jaxenv/bin/python tools/peer_jax.py
"""
import time
import numpy as np
import jax
import jax.numpy as jnp
import optax

def bench(name, f, *args, reps=30):
    out = f(*args)
    jax.block_until_ready(out)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t)
    print(f"{name:40s} {best * 1e3:8.3f} ms (best of {reps})")

rng = np.random.default_rng(0)
pointwise = {
    "L2": lambda p, t: jnp.mean(0.5 * (p - t) ** 2),
    "Huber": lambda p, t: jnp.mean(optax.huber_loss(p, t, delta=1.0)),
    "hinge": lambda p, t: jnp.mean(jnp.maximum(0.0, 1.0 - p * t)),
    "sigmoid BCE": lambda p, t: jnp.mean(optax.sigmoid_binary_cross_entropy(p, t)),
}
for label, n in [("16Ki", 1 << 14), ("1Mi", 1 << 20)]:
    p = jnp.asarray(rng.standard_normal(n, dtype=np.float32))
    t = jnp.asarray(rng.random(n, dtype=np.float32))
    for name, f in pointwise.items():
        bench(f"pointwise {name} {label}", jax.jit(jax.value_and_grad(f)), p, t)

x = jnp.asarray(rng.standard_normal((4096, 1000), dtype=np.float32))
bench("log_softmax 4096x1000 (forward)", jax.jit(jax.nn.log_softmax), x)

for rows, classes in [(4096, 1000), (65536, 10), (256, 32000)]:
    x = jnp.asarray(rng.standard_normal((rows, classes), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, classes, rows))
    ce = jax.jit(jax.value_and_grad(lambda x, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x, y))))
    bench(f"softmax CE {rows}x{classes}", ce, x, y)

a, pp, nn = (jnp.asarray(rng.standard_normal((4096, 128), dtype=np.float32)) for _ in range(3))
def triplet(a, p, n):
    return jnp.mean(jnp.maximum(0.0, jnp.sum((a - p) ** 2, -1) - jnp.sum((a - n) ** 2, -1) + 1.0))
bench("triplet 4096x128", jax.jit(jax.value_and_grad(triplet, argnums=(0, 1, 2))), a, pp, nn)

for T, N, C, S in [(150, 32, 29, 40), (500, 8, 80, 100)]:
    logits = jnp.asarray(rng.standard_normal((N, T, C), dtype=np.float32))
    labels = jnp.asarray(rng.integers(1, C, (N, S)))
    lp = jnp.zeros((N, T), jnp.float32)
    lb = jnp.zeros((N, S), jnp.float32)
    ctc = jax.jit(jax.value_and_grad(lambda x: jnp.mean(optax.ctc_loss(x, lp, labels, lb))))
    bench(f"CTC T{T} N{N} C{C} S{S}", ctc, logits)
