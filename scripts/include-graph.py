#!/usr/bin/env python3
"""The include graph between the code's folders (modules), from its #include lines.

    scripts/include-graph.py                 # one line per edge: FROM -> TO (files that include)
    scripts/include-graph.py --dot           # the same as Graphviz DOT
    scripts/include-graph.py --check FILE    # exit 1 when an edge is not named in FILE's module table

A module is a folder under agent/ (agent/faults/<family> each its own), or cli/. An edge A -> B
means a file in A includes a header of B. --check reads the markdown table in docs/architecture.md
whose first column is the module (`agent/core`, `agent/faults/<family>`, `cli/`...) and whose last
column ("depends on") lists the modules it may include, by the same names (`core`, `kernel`,
`faults/network`, `runner`; "all above" is not accepted: name them). A module's own headers are
not an edge. The row `agent/faults/<family>` holds for every family without a row of its own; in a
"depends on" cell, `faults/<family>` means any family, except in a family's own row: an edge
between two families is named family by family (a row of its own for the family that has it).
"""
import argparse
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module_of_path(rel):
    """agent/faults/network/x.cpp -> faults/network; agent/core/x.h -> core; cli/x.cpp -> cli."""
    parts = rel.split(os.sep)
    if parts[0] == "cli":
        return "cli"
    if parts[0] != "agent" or len(parts) < 3:
        return None
    if parts[1] == "faults":
        return "faults/" + parts[2] if len(parts) >= 4 else "faults"
    return parts[1]


def module_of_include(inc, including_module):
    """"faults/network/spec.h" -> faults/network; "core/x.h" -> core; "commands.h" (cli) -> cli."""
    parts = inc.split("/")
    if len(parts) == 1:
        return including_module  # a header beside the file
    if parts[0] == "faults" and len(parts) >= 3:
        return "faults/" + parts[1]
    if parts[0] in ("bpf",):
        return None  # generated skeletons and the BPF programs' shared headers
    return parts[0]


def scan():
    edges = defaultdict(set)  # (from, to) -> files
    modules = set()
    for top in ("agent", "cli"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if not f.endswith((".cpp", ".h", ".cu")):
                    continue
                path = os.path.join(d, f)
                rel = os.path.relpath(path, ROOT)
                m = module_of_path(rel)
                if not m:
                    continue
                modules.add(m)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for line in fh:
                        g = INCLUDE.match(line)
                        if not g:
                            continue
                        to = module_of_include(g.group(1), m)
                        if to and to != m:
                            edges[(m, to)].add(rel)
    return modules, edges


def allowed_from(doc):
    """The module table of docs/architecture.md: {module: set(modules it may include)}."""
    allowed = {}
    with open(doc, encoding="utf-8") as fh:
        for line in fh:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 3:
                continue
            first = cells[0].strip("`").rstrip("/")
            if not (first.startswith("agent/") or first == "cli"):
                continue
            mod = first[len("agent/"):] if first.startswith("agent/") else "cli"
            deps = set()
            for tok in re.findall(r"`?([a-z_]+(?:/[a-z_<>]+)?)`?", cells[-1]):
                deps.add(tok)
            allowed[mod] = deps
    return allowed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dot", action="store_true")
    ap.add_argument("--check", metavar="FILE")
    a = ap.parse_args()
    modules, edges = scan()
    if a.dot:
        print("digraph includes {\n  rankdir=TB; node [shape=box];")
        for (f, t), files in sorted(edges.items()):
            print(f'  "{f}" -> "{t}" [label="{len(files)}"];')
        print("}")
    elif not a.check:
        for (f, t), files in sorted(edges.items()):
            print(f"{f} -> {t}  ({len(files)} files: {', '.join(sorted(files)[:3])}{', ...' if len(files) > 3 else ''})")
    if a.check:
        allowed = allowed_from(a.check)
        bad = []
        for m in sorted(modules):
            if m not in allowed and not (m.startswith("faults/") and "faults/<family>" in allowed):
                bad.append(f"module {m} is not in the table of {a.check}")
        for (f, t), files in sorted(edges.items()):
            ok = allowed.get(f)
            if ok is None and f.startswith("faults/"):
                ok = allowed.get("faults/<family>", set())
            any_family = ok is not None and "faults/<family>" in ok and not f.startswith("faults/")
            if ok is None or not (t in ok or (any_family and t.startswith("faults/"))):
                bad.append(f"{f} -> {t} is not named in {a.check} (from {', '.join(sorted(files))})")
        for b in bad:
            print("include-graph: " + b, file=sys.stderr)
        if bad:
            return 1
        print(f"include-graph: {len(edges)} edges between {len(modules)} modules, every one named in {a.check}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
