#!/usr/bin/env python3
"""Runs every test binary of the workspace, several at once.

`cargo test` runs test binaries one after another; most of ferry's black-box
tests spend their time waiting on real processes (servers, agents, HAProxy,
Chromium), so running a few binaries side by side roughly halves the suite's
time on two cores. Each binary runs as cargo would run it (in its package's
directory, with CARGO_PKG_NAME and CARGO_MANIFEST_DIR set); its output is
printed whole when it ends, slowest binaries are started first, and the run
ends with one line counting the tests: `N passed, N failed, N ignored, N skipped`.

A test that cannot run here (no root for a fleet, a missing tool) reports
itself skipped with `ferry_testkit::skip`, which leaves a file in the
directory FERRY_TEST_SKIPS_DIR names; libtest counts it as passed, so this
script counts the files, lists the skipped tests and fails the run when
there are any, unless --allow-skips is given.

Usage: scripts/run-tests.py [--jobs N] [--allow-skips] [-p PACKAGE]...   (after the workspace is built)
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

# Binaries known to take longest start first (the rest keep cargo's order).
SLOW_FIRST = ["aws", "readme", "traffic", "blue_green", "fleet", "abuse", "console", "alarms", "liveness", "shutdown",
              "roles", "tls", "notifications", "local", "edge"]


def test_binaries(packages):
    selection = [arg for p in packages for arg in ("--package", p)] or ["--workspace"]
    out = subprocess.run(
        ["cargo", "test", *selection, "--locked", "--no-run", "--message-format=json"],
        check=True, stdout=subprocess.PIPE, text=True).stdout
    binaries = []
    for line in out.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        if not message.get("profile", {}).get("test"):
            continue
        manifest = message["manifest_path"]
        package = re.split(r"[#@]", message["package_id"].split("/")[-1])[0]
        name = message["target"]["name"]
        binaries.append({"name": name, "kind": message["target"]["kind"][0], "package": package,
                         "dir": os.path.dirname(manifest), "manifest": manifest, "exe": message["executable"]})
    return binaries


def run(binary):
    with tempfile.TemporaryDirectory(prefix="ferry-skips-") as skips_dir:
        env = dict(os.environ, CARGO_PKG_NAME=binary["package"], CARGO_MANIFEST_DIR=binary["dir"],
                   FERRY_TEST_SKIPS_DIR=skips_dir)
        start = time.monotonic()
        p = subprocess.run([binary["exe"]], cwd=binary["dir"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
        took = time.monotonic() - start
        skips = sorted(set(read_skips(skips_dir)))
    return binary, p.returncode, p.stdout, took, skips


def read_skips(skips_dir):
    """The `SKIPPED <binary>::<test>: <reason>` lines ferry_testkit::skip left."""
    for name in os.listdir(skips_dir):
        with open(os.path.join(skips_dir, name), errors="replace") as f:
            yield f.read().strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--allow-skips", action="store_true",
                        help="succeed even if some tests reported themselves skipped")
    parser.add_argument("--package", "-p", action="append", default=[],
                        help="only this package's test binaries (repeatable; default: the workspace)")
    args = parser.parse_args()
    binaries = test_binaries(args.package)
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    binaries.sort(key=lambda b: rank.get(b["name"], len(SLOW_FIRST)))
    passed = failed = ignored = 0
    broken = []
    skipped = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for done in as_completed([pool.submit(run, b) for b in binaries]):
            binary, code, output, took, skips = done.result()
            skipped += [f"{binary['package']}: {line}" for line in skips]
            label = f"{binary['package']} {binary['kind']} {binary['name']}"
            print(f"\n==== {label} ({took:.0f} s)\n{output}", flush=True)
            counts = re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", output)
            for p, f, i in counts:
                passed, failed, ignored = passed + int(p), failed + int(f), ignored + int(i)
            if code != 0:
                broken.append(label)
                if not counts or all(int(f) == 0 for _, f, _ in counts):
                    failed += 1  # crashed or exited non-zero without a count
    if broken:
        print("\nfailed binaries: " + ", ".join(broken))
    if skipped:
        print(f"\n{len(skipped)} tests did not run (counted as passed by libtest, so not in `passed`):")
        print("\n".join("  " + line for line in sorted(skipped)))
        if not args.allow_skips:
            print("skipped tests fail the run (pass --allow-skips to accept them)")
    # libtest counts a skipped test as passed: it is counted here as skipped only.
    print(f"\n{passed - len(skipped)} passed, {failed} failed, {ignored} ignored, {len(skipped)} skipped")
    sys.exit(1 if broken or (skipped and not args.allow_skips) else 0)


if __name__ == "__main__":
    main()
