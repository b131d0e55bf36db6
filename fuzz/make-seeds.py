#!/usr/bin/env python3
"""Makes the fuzz targets' seed corpora from the repository's own files, at build time.

  experiment        experiments/*.yaml, tests/unit/testdata/*.yaml
  chaosmesh_import  ../shared/conformance/**/*.yaml, tests/unit/testdata/chaos-mesh.yaml, fuzz/seeds/chaosmesh_import/
  agent_config      packaging/agent.yaml, tests/unit/testdata/agent-*.yaml
  api_request       one request line per experiment (run, dry run, validate, schedule.add), fuzz/seeds/api_request.jsonl
  cron              fuzz/seeds/cron.txt (one expression a line), the Schedule expressions of the manifests

and, for each target, tests/unit/testdata/fuzz-regressions/TARGET/ (every crash found so far).
Each OUT/TARGET is made afresh; nothing here is checked in.
"""
import argparse
import glob
import json
import os
import re
import shutil


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    src, shared = a.source, a.shared
    seeds = {t: {} for t in ("experiment", "chaosmesh_import", "agent_config", "api_request", "cron")}

    def add(target, name, data):
        seeds[target][re.sub(r"[^A-Za-z0-9._-]", "_", name)] = data

    def files(pattern):
        return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))

    experiments = files(os.path.join(src, "experiments", "*.yaml"))
    testdata = files(os.path.join(src, "tests", "unit", "testdata", "*.yaml"))
    for p in experiments + testdata:
        add("experiment", os.path.relpath(p, src), read(p))
    manifests = files(os.path.join(shared, "conformance", "**", "*.yaml"))
    manifests += files(os.path.join(src, "tests", "unit", "testdata", "chaos-mesh.yaml"))
    manifests += files(os.path.join(src, "fuzz", "seeds", "chaosmesh_import", "*"))
    for p in manifests:
        add("chaosmesh_import", os.path.relpath(p, os.path.dirname(src)), read(p))
    for p in files(os.path.join(src, "packaging", "agent.yaml")) + files(
            os.path.join(src, "tests", "unit", "testdata", "agent-*.yaml")):
        add("agent_config", os.path.relpath(p, src), read(p))

    for p in experiments + testdata:
        text = read(p).decode("utf-8", "replace")
        rel = os.path.relpath(p, src)
        for op, extra in (("run", {"dryRun": True}), ("run", {}), ("validate", {}),
                          ("schedule.add", {"name": "nightly", "at": "0 3 * * 1-5", "policy": "forbid",
                                            "historyLimit": 10})):
            req = {"op": op, "file": rel, "yaml": text, **extra}
            add("api_request", f"{rel}.{op}{'.dry' if extra.get('dryRun') else ''}.json",
                json.dumps(req).encode())
    jsonl = os.path.join(src, "fuzz", "seeds", "api_request.jsonl")
    for i, line in enumerate(read(jsonl).splitlines()):
        if line.strip():
            add("api_request", f"api_request.jsonl.{i}", line)

    cron = os.path.join(src, "fuzz", "seeds", "cron.txt")
    for i, line in enumerate(read(cron).splitlines()):
        if line and not line.startswith(b"#"):
            add("cron", f"cron.txt.{i}", line)
    for p in manifests:
        for m in re.finditer(rb"^\s*schedule:\s*['\"]?([^'\"\n]+)", read(p), re.M):
            add("cron", os.path.basename(p) + ".schedule", m.group(1).strip())

    for target in seeds:
        for p in files(os.path.join(src, "tests", "unit", "testdata", "fuzz-regressions", target, "*")):
            add(target, "regression." + os.path.basename(p), read(p))

    for target, items in seeds.items():
        d = os.path.join(a.out, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in items.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"fuzz seeds: {target}: {len(items)} files")


if __name__ == "__main__":
    main()
