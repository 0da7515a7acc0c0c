#!/usr/bin/env python3
"""Checks the house rules of the source tree (docs/architecture.md).

Each folder under common/, uvx/, server/ and client/ is a node; an include
of "a/b/c.hpp" from a file in folder F is an edge F -> a/b. The check fails,
naming the file and line, when
  - an include reaches a layer the including layer may not see,
  - a header outside the allowed folders includes CLI11 or libuv,
  - the folders include each other in a cycle.
Usage: check_layers.py SOURCE_DIR
"""
import os
import re
import sys

# Which top-level layers each layer may include (besides itself).
MAY_SEE = {
    "common": {"common"},
    "uvx": {"common", "uvx"},
    "server": {"common", "uvx", "server"},
    "client": {"common", "client"},
}
# Folders that may include the argument parser; nothing else may.
CLI11_FOLDERS = {"client/cli", "server/cli"}
# Layers that may include libuv.
LIBUV_LAYERS = {"uvx", "server"}
# Specific edges that must not exist (folder or file prefix -> target).
FORBIDDEN = [
    # Requests see their connection through RequestContext only.
    ("server/requests", "server/net/session.hpp"),
]

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def main(root):
    problems = []
    edges = {}
    for layer in MAY_SEE:
        for folder, _, files in os.walk(os.path.join(root, layer)):
            for name in sorted(files):
                if not name.endswith((".cpp", ".hpp")):
                    continue
                path = os.path.join(folder, name)
                rel_folder = os.path.relpath(folder, root)
                rel_path = os.path.relpath(path, root)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        kind, target = m.groups()
                        where = f"{rel_path}:{number}"
                        if kind == "<":
                            if target.startswith("CLI/") and rel_folder not in CLI11_FOLDERS:
                                problems.append(f"{where}: includes CLI11 outside {sorted(CLI11_FOLDERS)}")
                            if target == "uv.h" and layer not in LIBUV_LAYERS:
                                problems.append(f"{where}: includes <uv.h> outside {sorted(LIBUV_LAYERS)}")
                            continue
                        target_layer = target.split("/", 1)[0]
                        if target_layer not in MAY_SEE:
                            problems.append(f"{where}: include \"{target}\" is not a path from the repository root")
                            continue
                        if target_layer not in MAY_SEE[layer]:
                            problems.append(f"{where}: {layer}/ may not include {target_layer}/ (\"{target}\")")
                        for source, forbidden in FORBIDDEN:
                            if (rel_folder + "/").startswith(source + "/") and target == forbidden:
                                problems.append(f"{where}: {source}/ may not include {forbidden}")
                        target_folder = os.path.dirname(target)
                        if target_folder != rel_folder:
                            edges.setdefault(rel_folder, {}).setdefault(target_folder, where)
    # Cycles between folders: depth-first search with colours.
    colour = {}
    stack = []

    def visit(node):
        colour[node] = "grey"
        stack.append(node)
        for nxt, where in sorted(edges.get(node, {}).items()):
            if colour.get(nxt) == "grey":
                cycle = stack[stack.index(nxt):] + [nxt]
                problems.append("include cycle between folders: " + " -> ".join(cycle) + f" (closing edge at {where})")
            elif nxt not in colour:
                visit(nxt)
        stack.pop()
        colour[node] = "black"

    for node in sorted(edges):
        if node not in colour:
            visit(node)
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s) in {len(edges)} folders")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
