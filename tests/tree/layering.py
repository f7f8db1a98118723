#!/usr/bin/env python3
"""Check that src/ keeps its layers: every #include "folder/file.h" points to
the file's own folder or to one listed before it in src/LAYERS, and no
include circle exists, between folders or between files (a .c and its .h
count as one module).

Usage: layering.py [SRCDIR]   (default: the src/ beside this tests/ folder)
Prints every violation with the file and line, and exits 1 if there is one.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', re.M)


def read_layers(src):
    """The folder order, lowest first, from src/LAYERS."""
    order = []
    with open(os.path.join(src, "LAYERS")) as f:
        for line in f:
            word = line.split("#", 1)[0].split()
            if word:
                order.append(word[0])
    return order


def scan(src):
    """{module: [(line, included module, text)]} for every .c/.h below src,
    modules named "folder/name" (extension dropped)."""
    deps = {}
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)
            mod = rel[:-2]
            with open(path, errors="replace") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                deps.setdefault(mod, []).append((rel, line, inc))
            deps.setdefault(mod, [])
    return deps


def cycles(graph):
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(100000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(src):
    errors = []
    order = read_layers(src)
    rank = {f: i for i, f in enumerate(order)}
    deps = scan(src)
    modgraph, foldergraph = {}, {}
    for mod, incs in deps.items():
        folder = mod.split("/")[0] if "/" in mod else ""
        if folder and folder not in rank:
            errors.append("src/%s: folder %s/ is not listed in src/LAYERS"
                          % (mod, folder))
        for rel, line, inc in incs:
            if "/" not in inc:
                continue        # autoconfig.h, generated at the top
            target = inc[:-2] if inc.endswith(".h") else inc
            tfolder = inc.split("/")[0]
            if tfolder not in rank:
                errors.append("src/%s:%d: includes \"%s\" from a folder not "
                              "listed in src/LAYERS" % (rel, line, inc))
                continue
            if folder in rank and rank[tfolder] > rank[folder]:
                errors.append("src/%s:%d: includes \"%s\": %s/ is above %s/ "
                              "in src/LAYERS (call up through a function "
                              "given from above instead)"
                              % (rel, line, inc, tfolder, folder))
            if target != mod:
                modgraph.setdefault(mod, set()).add(target)
            if tfolder != folder:
                foldergraph.setdefault(folder, set()).add(tfolder)
    for comp in cycles(foldergraph):
        errors.append("include circle between folders: %s" % " -> ".join(comp))
    for comp in cycles(modgraph):
        errors.append("include circle between files: %s"
                      % " -> ".join("src/%s" % c for c in comp))
    return errors


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(here, "..", "..", "src")
    errors = check(src)
    for e in errors:
        print(e)
    if errors:
        print("layering: %d violation(s); the order is in src/LAYERS" % len(errors))
        return 1
    print("layering: OK (%d folders, order in src/LAYERS)" % len(read_layers(src)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
