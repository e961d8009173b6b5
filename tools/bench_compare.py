#!/usr/bin/env python3
"""Criterion before/after in one run: the benches of a base revision and of
the work tree, alternated round by round on the same machine, reported as
the median over rounds of each benchmark's criterion median, and the ratio
after / before.

usage: python3 tools/bench_compare.py BASE_REV [--rounds N] [--filter REGEX]
                                      [--benches a,b] [--rustflags FLAGS]
                                      [--before-rustflags FLAGS]

BASE_REV "." compares the work tree with itself, for two builds: for
example `. --before-rustflags "-C target-cpu=native"` puts the native build
("before") beside the default build ("after").

The base revision is checked out with `git worktree` in the system's
temporary directory, outside this workspace (reused if present). Each tree builds into its own
target directory; criterion's output goes to target/bench-compare/criterion.
Run it on an idle machine: nothing else should run meanwhile.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile

parser = argparse.ArgumentParser()
parser.add_argument("base")
parser.add_argument("--rounds", type=int, default=2)
parser.add_argument("--filter", default="loss-kernels|value only")
parser.add_argument("--benches", default="pointwise,softmax,embedding,ctc")
parser.add_argument("--rustflags", default=None, help="RUSTFLAGS of both builds")
parser.add_argument("--before-rustflags", default=None, help="RUSTFLAGS of the before build only")
args = parser.parse_args()

repo = subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip()
work = os.path.join(repo, "target", "bench-compare")
base_tree = os.path.join(tempfile.gettempdir(), "loss-kernels-bench-base")
crit = os.path.join(work, "criterion")
os.makedirs(work, exist_ok=True)
shutil.rmtree(crit, ignore_errors=True)  # results of this run only
if args.base == ".":
    base_tree = repo
elif not os.path.isdir(base_tree):
    subprocess.check_call(["git", "worktree", "add", "--detach", base_tree, args.base], cwd=repo)
else:
    subprocess.check_call(["git", "checkout", "-q", "--detach", args.base], cwd=base_tree)

trees = {"before": base_tree, "after": repo}
env = dict(os.environ, CRITERION_HOME=crit)
if args.rustflags is not None:
    env["RUSTFLAGS"] = args.rustflags
envs = {"before": dict(env), "after": env}
if args.before_rustflags is not None:
    envs["before"]["RUSTFLAGS"] = args.before_rustflags


def run(tag, tree, r):
    target = os.path.join(work, f"target-{tag}")
    for bench in args.benches.split(","):
        # The benches are their own package (benches/Cargo.toml) since the
        # test-lanes feature moved out of their build; older trees have them
        # in the root package.
        package = ["-p", "loss-kernels-benches"] if os.path.exists(os.path.join(tree, "benches", "Cargo.toml")) else []
        cmd = ["cargo", "bench", *package, "--bench", bench, "--target-dir", target, "--",
               "--save-baseline", f"{tag}{r}", "--noplot", args.filter]
        subprocess.check_call(cmd, cwd=tree, env=envs[tag], stdout=subprocess.DEVNULL)


for r in range(args.rounds):
    for tag, tree in trees.items():
        print(f"round {r + 1}/{args.rounds}: {tag}", file=sys.stderr)
        run(tag, tree, r)

results = {}
for dirpath, dirs, files in os.walk(crit):
    if "estimates.json" not in files:
        continue
    name = os.path.basename(dirpath)
    for tag in trees:
        if name.startswith(tag) and name[len(tag):].isdigit():
            bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
            est = json.load(open(os.path.join(dirpath, "estimates.json")))
            key = (bench["group_id"], bench.get("function_id") or "", bench.get("value_str") or "")
            results.setdefault(key, {}).setdefault(tag, []).append(est["median"]["point_estimate"])

print(f"| benchmark | before (us) | after (us) | after / before |")
print(f"|---|---:|---:|---:|")
worst = 0.0
for key in sorted(results):
    t = results[key]
    if "before" not in t or "after" not in t:
        continue
    b, a = statistics.median(t["before"]), statistics.median(t["after"])
    worst = max(worst, a / b)
    print(f"| {key[0]} {key[1]} {key[2]} | {b / 1e3:.1f} | {a / 1e3:.1f} | {a / b:.3f} |")
print(f"\nworst after/before: {worst:.3f}")
