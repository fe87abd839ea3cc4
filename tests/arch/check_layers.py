#!/usr/bin/python3
"""Checks the shape of src/ that docs/architecture.md describes.

- Every folder of src/ is one layer: one CMake library (berth_library in
  CMakeLists.txt) and one namespace, berth::<folder> (runtime/local is
  berth::runtime::local). A file may also define the public API's own names
  in namespace berth.
- A file includes only headers of its own folder, of a layer below it, or of
  the public API (include/berth/) at or below its layer; never one above, and
  never a sibling at the same level (runtime/local and runtime/slurm know
  nothing of each other). Tests follow the same rule, and may also use
  testing/.
- The public headers include nothing but each other and the standard library.
- No cycle between folders.

Usage: check_layers.py [SOURCE_ROOT]; prints every violation, exits 1 on any.
"""
import os
import re
import sys

# Low to high. Folders at the same level are siblings.
LAYERS = [
    ("common", 0),
    ("placement", 1),
    ("roles", 2),
    ("formats", 3),
    ("runtime/local", 4),
    ("runtime/slurm", 4),
    ("scheduler", 5),
    ("control", 6),
    ("run", 7),
    ("cli", 8),
]
LEVEL = dict(LAYERS)
LIBRARY = {
    "common": "berth_common",
    "placement": "berth_placement",
    "roles": "berth_roles",
    "formats": "berth_formats",
    "runtime/local": "berth_runtime_local",
    "runtime/slurm": "berth_runtime_slurm",
    "scheduler": "berth_scheduler",
    "control": "berth_control",
    "run": "berth_run",
}
# Each public header belongs to the layer that implements it.
PUBLIC = {
    "berth/status.h": "common",
    "berth/clock.h": "common",
    "berth/resources.h": "common",
    "berth/placement.h": "placement",
    "berth/explanation.h": "placement",
    "berth/experiment.h": "roles",
    "berth/plan.h": "roles",
    "berth/ports.h": "roles",
    "berth/json.h": "formats",
    "berth/local.h": "runtime/local",
    "berth/process.h": "runtime/local",
    "berth/scheduler.h": "scheduler",
    "berth/recovery.h": "scheduler",
    "berth/restart_budget.h": "scheduler",
    "berth/scheduler_json.h": "scheduler",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
NAMESPACE = re.compile(r"^namespace\s+([A-Za-z_:]+)\s*\{", re.M)


def folder_of(path):
    """src/runtime/local/spawn.cc -> runtime/local (the deepest known folder)."""
    rel = os.path.dirname(path)
    while rel:
        if rel in LEVEL:
            return rel
        rel = os.path.dirname(rel)
    return None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    root = os.path.abspath(root)
    src = os.path.join(root, "src")
    problems = []
    edges = {}

    for dirpath, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".cc", ".h")):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, src)
            if "/testdata/" in "/" + rel:
                continue
            folder = folder_of(rel)
            if folder is None:
                problems.append(f"src/{rel}: folder {os.path.dirname(rel)!r} is no layer; "
                                f"add it to LAYERS in tests/arch/check_layers.py and to "
                                f"docs/architecture.md, or move the file into a layer")
                continue
            is_test = name.endswith("_test.cc") or name.endswith("_test_util.h")
            text = open(full, encoding="utf-8").read()
            for inc in INCLUDE.findall(text):
                if inc.startswith("testing/"):
                    if not is_test:
                        problems.append(f"src/{rel}: includes {inc}: test helpers are for tests only")
                    continue
                if inc.startswith("berth/"):
                    target = PUBLIC.get(inc)
                    if target is None:
                        problems.append(f"src/{rel}: includes {inc}, a public header this check "
                                        f"does not know: add it to PUBLIC with its layer")
                        continue
                else:
                    target = folder_of(inc)
                    if target is None:
                        problems.append(f"src/{rel}: includes {inc}, which is in no layer")
                        continue
                if target == folder:
                    continue
                if not inc.startswith("berth/"):
                    edges.setdefault(folder, set()).add(target)
                if LEVEL[target] > LEVEL[folder]:
                    problems.append(f"src/{rel}: includes {inc}: {folder} (level {LEVEL[folder]}) "
                                    f"may not use {target} (level {LEVEL[target]}), a layer above it")
                elif LEVEL[target] == LEVEL[folder]:
                    problems.append(f"src/{rel}: includes {inc}: {folder} and {target} are "
                                    f"siblings and must not know each other")
            expected = "berth::" + folder.replace("/", "::")
            opened = NAMESPACE.findall(text)
            for ns in opened:
                if "berth" in opened and "berth::" + ns == expected:
                    continue  # namespace berth { namespace <layer> {
                if ns == "berth::internal" or ("berth" in opened and ns == "internal"):
                    continue  # details of the public API's own headers
                if ns in (expected, "berth") or (is_test and ns.startswith(expected + "::")):
                    continue
                if ns.startswith(expected + "::"):
                    continue  # a nested namespace of the layer's own
                problems.append(f"src/{rel}: opens namespace {ns}; files of src/{folder} "
                                f"belong to {expected} (or berth for the public API)")

    # Public headers: self-contained.
    inc_dir = os.path.join(root, "include", "berth")
    for name in sorted(os.listdir(inc_dir)):
        text = open(os.path.join(inc_dir, name), encoding="utf-8").read()
        if f"berth/{name}" not in PUBLIC:
            problems.append(f"include/berth/{name}: not in PUBLIC of tests/arch/check_layers.py")
        for inc in INCLUDE.findall(text):
            if not inc.startswith("berth/"):
                problems.append(f"include/berth/{name}: includes {inc}; public headers include "
                                f"only other public headers")

    # One folder = one library.
    cmake = open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8").read()
    for folder, lib in LIBRARY.items():
        if not re.search(rf"berth_library\({lib}\s+{re.escape(folder)}\b", cmake):
            problems.append(f"CMakeLists.txt: src/{folder} is not built as library {lib} "
                            f"(berth_library({lib} {folder} ...))")

    # No cycle between folders (the levels forbid one; this says where if the
    # levels are ever changed).
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                problems.append("cycle between folders: " + " -> ".join(path + [node, nxt]))
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])

    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} violation(s) of the layer rules (docs/architecture.md)")
        return 1
    print(f"layers: {sum(len(v) for v in edges.values())} dependencies between "
          f"{len(LEVEL)} folders, all downward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
