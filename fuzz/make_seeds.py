#!/usr/bin/env python3
"""Writes the fuzz seed corpora, fuzz/seeds/<target>/, from the conformance
cases in tests/data/conformance/, in the byte layout each target reads (see
the doc comment at the top of fuzz/fuzz_targets/<target>.rs and the float
encoding in fuzz/src/input.rs: every float here is tag 0 + its exact f32
bits). Also writes the inputs the fuzzers found (`REGRESSIONS`), so every
run replays them.

Idempotent: rewrites the seed folders from scratch. Small on purpose: the
few smallest cases of each loss, a few KB per target.

    python3 fuzz/make_seeds.py
"""

import hashlib
import re
import json
import math
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "conformance")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
PER_VARIANT = 1  # cases per variant (the case id without its size suffix)
MAX_SEED = 700  # bytes
MAX_SEEDS = 16  # per target, besides the regressions


def num(v):
    if isinstance(v, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}[v]
    return float(v)


def f32(v):
    """Tag 0 and the exact bits of an f32."""
    return bytes([0]) + struct.pack("<f", num(v))


def floats(vs):
    return b"".join(f32(v) for v in vs)


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)["cases"]


# ---------------------------------------------------------------- pointwise
POINTWISE = ["l1", "l2", "huber", "hinge", "squared_hinge", "logistic",
             "sigmoid_bce", "bce", "poisson_nll", "log_cosh"]
NO_CORRUPTION = bytes([5, 4])  # corrupt % 8 = 5 (none), delta 4 - 4 = 0


def pointwise_seed(c):
    p = c["params"]
    dim = c["dim"]
    n = len(c["pred"]) // dim
    if n > 255 or dim > 32:
        return None
    w = c.get("sample_weight")
    flags = (1 if w else 0) | (2 if p.get("labels") == "binary" else 0) \
        | (4 if p.get("log_input", True) else 0) | (8 if p.get("full") else 0)
    param = p.get("rho", p.get("margin", p.get("pos_weight", 1.0)))
    out = bytes([POINTWISE.index(c["loss"]), flags, n, dim]) + NO_CORRUPTION
    out += f32(param) + floats(c["pred"]) + floats(c["target"])
    if w:
        out += floats(w)
    return out


# ------------------------------------------------------------------ softmax
def softmax_seed(c):
    p = c["params"]
    C = c["classes"]
    n = len(c["logits"]) // C
    if C > 40 or n > 32:
        return None
    kind = {"softmax_cross_entropy": 0 if c.get("labels") is not None else 1,
            "kl_div": 2, "log_softmax": 3}[c["loss"]]
    other = p.get("from_log_probs", False)
    if kind == 2:
        other = not other  # bit 2 means logits for KL
    ignore = p.get("ignore_index")
    if ignore is not None and ignore >= C + 3:
        return None
    cw, sw = c.get("class_weight"), c.get("sample_weight")
    alpha = p.get("label_smoothing", 0.0)
    mode = kind | (4 if other else 0) | (8 if cw else 0) | (16 if sw else 0) \
        | (32 if ignore is not None else 0) | (64 if alpha else 0)
    out = bytes([mode, C, n]) + NO_CORRUPTION + bytes([ignore or 0])
    out += f32(alpha) + floats(c["logits"])
    if kind == 0:
        out += bytes(c["labels"])
    elif kind in (1, 2):
        out += floats(c["target"])
    if cw:
        out += floats(cw)
    if sw:
        out += floats(sw)
    return out


# ---------------------------------------------------------------- embedding
def embedding_seed(c):
    p = c["params"]
    dim = c["dim"]
    cos = c["loss"] == "cosine_embedding"
    first = c["x1"] if cos else c["anchor"]
    n = len(first) // dim
    if dim > 32 or n > 32:
        return None
    sw = c.get("sample_weight")
    mode = (1 if cos else 0) | (2 if p.get("distance") == "euclidean" else 0) \
        | (4 if sw else 0) | 8
    out = bytes([mode, dim, n]) + NO_CORRUPTION + f32(p.get("margin", 0.0))
    if cos:
        out += floats(c["x1"]) + floats(c["x2"])
        out += bytes(0 if y == 1 else 1 for y in c["labels"])
    else:
        out += floats(c["anchor"]) + floats(c["positive"]) + floats(c["negative"])
    if sw:
        out += floats(sw)
    return out


# ---------------------------------------------------------------------- ctc
def ctc_seed(c):
    p = c["params"]
    T, N, C, S = c["T"], c["N"], c["C"], c["max_label_len"]
    if T > 32 or N > 8 or C > 16 or S > 12:
        return None
    blank = p["blank"]
    mode = (1 if c["layout"] == "batch_major" else 0) \
        | (2 if p["input"] == "log_probs" else 0) | (4 if p["zero_infinity"] else 0)
    out = bytes([mode, T, N, C, blank, S, 7, 4])
    out += bytes(c["input_lengths"]) + bytes(c["label_lengths"])
    for v in c["labels"]:
        out += bytes([0 if v < 0 else (v if v < blank else v - 1)])
    return out + floats(c["acts"])


FAMILIES = {
    "pointwise": (["pointwise.json"], pointwise_seed),
    "softmax": (["softmax.json"], softmax_seed),
    "embedding": (["embedding.json"], embedding_seed),
    "ctc": (["ctc.json"], ctc_seed),
}

# Inputs the fuzzers found (hex), replayed as seeds.
REGRESSIONS = {
    "pointwise": {
        # Huber with a subnormal rho: 1/rho = inf, 0 * inf = NaN.
        "regress-huber-subnormal-rho": "202f01fcf50606",
        # Hinge with p t overflowing to +inf: gradient -inf * 0 = NaN.
        "regress-hinge-overflow": "0300010107000f07100710",
        # Huber with rho = 2.7e36: s * s overflowed inside the quadratic zone.
        "regress-huber-huge-rho": "200707260501070095946c3f00e78e8e3e00ffbaa2fbfaf8fcce00000b0b1020071c041191ffbaa2fbfaf84400fcce00000b0b0000100b7e0b7e00050001",
    },
}


def main():
    total = 0
    for target, (files, make) in FAMILIES.items():
        if not os.path.exists(os.path.join(ROOT, "fuzz", "fuzz_targets", target + ".rs")):
            continue
        folder = os.path.join(SEEDS, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        cases = [c for f in files if os.path.exists(os.path.join(DATA, f))
                 for c in load(f)]
        seeds = {}
        taken = {}
        for c in sorted(cases, key=lambda c: len(json.dumps(c))):
            variant = re.sub(r"-n\d+.*$", "", c["id"])
            if taken.get(variant, 0) >= PER_VARIANT:
                continue
            data = make(c)
            if data is None or len(data) > MAX_SEED or len(seeds) >= MAX_SEEDS:
                continue
            taken[variant] = taken.get(variant, 0) + 1
            seeds[c["id"]] = data
        for name, hexdata in REGRESSIONS.get(target, {}).items():
            seeds[name] = bytes.fromhex(hexdata)
        for name, data in seeds.items():
            digest = hashlib.sha1(data).hexdigest()[:8]
            with open(os.path.join(folder, f"{name}-{digest}"), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"{target}: {len(seeds)} seeds, "
              f"{sum(len(d) for d in seeds.values())} bytes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
