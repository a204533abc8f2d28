#!/usr/bin/env python3
"""tools/check-layers.py [ROOT] - checks the include graph against the layers.

The folders are rooms, bottom to top (sources.mk, README "Layout"):

    lib  arch  mm  sched  gc  chan  diag  demo  kernel   and tests/ on top

boot/ belongs to arch; arch/x86_64/ and arch/hosted/ are inside arch (they
may include each other's headers). Every `#include "..."` of every .c, .h,
.S and .inc under ROOT (default: the repository; build/ and dot folders are
skipped) must name an existing file and be one of:

  - a file of the includer's own room (its internal headers);
  - the public header of a lower room, ROOM/ROOM.h (lib/lib.h, arch/arch.h,
    mm/mm.h, ...); arch/hosted/hosted.h is the hosted machine's header, for
    the hosted tests (tests/ may include anything);
  - anything at all, from tests/ (white-box tests) or tools/ (host programs).

Every `#include <...>` outside arch/hosted/, tests/hosted/, tests/fuzz/ and
tools/ (the only code that runs on a libc) must be a freestanding header:
the kernel image has no libc. And the folders must not include each other
in a cycle (arch/x86_64 -> arch/hosted -> arch/x86_64 is one, though both
are arch).

Prints each violation as FILE:LINE: what it includes, and why that is wrong,
then a summary line; exits 1 if there was any, 0 if none, 2 on bad usage.
"""
import os
import re
import sys

ROOMS = ["lib", "arch", "mm", "sched", "gc", "chan", "diag", "demo", "kernel", "tests"]
# Folders that are part of a room without being named after it.
ROOM_OF_FOLDER = {"boot": "arch"}
# Code outside the layers: may include anything.
FREE_ROOMS = {"tests", "tools"}
# Folders whose code runs on a libc (the hosted machine, the hosted-only
# tests, the fuzzer, host programs): any system header.
LIBC_FOLDERS = ("arch/hosted", "tests/hosted", "tests/fuzz", "tools")
# The freestanding headers of C11 (4p6): all a kernel without libc has.
FREESTANDING = {"float.h", "iso646.h", "limits.h", "stdalign.h", "stdarg.h",
                "stdbool.h", "stddef.h", "stdint.h", "stdnoreturn.h"}
SOURCE_EXTS = (".c", ".h", ".S", ".inc")
SKIP_DIRS = {"build"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]*)[>"]')


def room_of(path):
    """The room of a repository-relative path, or None outside every room."""
    top = path.split("/", 1)[0]
    top = ROOM_OF_FOLDER.get(top, top)
    return top if top in ROOMS or top in FREE_ROOMS else None


def public_header(room):
    return f"{room}/{room}.h"


def in_folder(path, folder):
    return path == folder or path.startswith(folder + "/")


def sources(root):
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".")
                             and not (rel_dir == "." and (d in SKIP_DIRS or d.startswith("build-"))))
        for name in sorted(filenames):
            if name.endswith(SOURCE_EXTS):
                yield os.path.normpath(os.path.join(rel_dir, name))


def resolve(root, includer, target):
    """The repository-relative file a quoted include names, as the compiler
    finds it: next to the includer first, then from the root (-I.)."""
    for base in (os.path.dirname(includer), ""):
        rel = os.path.normpath(os.path.join(base, target))
        if not rel.startswith("..") and os.path.isfile(os.path.join(root, rel)):
            return rel
    return None


def check_quoted(src, dst):
    """Why src may not include dst (both repository-relative), or None."""
    src_room, dst_room = room_of(src), room_of(dst)
    if src_room is None:
        return (f"{src} is in no room (rooms: {', '.join(ROOMS)}; boot/ is arch, "
                f"tools/ holds host programs)")
    if src_room in FREE_ROOMS or src_room == dst_room:
        return None
    if dst_room is None:
        return f"{dst} is in no room"
    if dst_room in FREE_ROOMS:
        return f"{dst_room}/ is above every room: {src_room}/ may not include it"
    if ROOMS.index(dst_room) > ROOMS.index(src_room):
        return (f"goes up a layer: {dst_room}/ is above {src_room}/ "
                f"(a lower room reaches up only through a registered hook)")
    if dst != public_header(dst_room):
        return (f"{dst} is internal to {dst_room}/: from {src_room}/ only "
                f"{public_header(dst_room)} may be included")
    return None


def check_system(src, header):
    if any(in_folder(src, f) for f in LIBC_FOLDERS):
        return None
    if header in FREESTANDING:
        return None
    return (f"<{header}> is not a freestanding header: libc is only for "
            f"{', '.join(f + '/' for f in LIBC_FOLDERS)}")


def folder_cycles(edges):
    """The strongly connected components of more than one folder (Tarjan)."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    nodes = sorted(set(edges) | {d for ds in edges.values() for d in ds})

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return comps


def shortest_cycle(edges, comp):
    """A shortest cycle through comp's first folder, inside comp, as a list
    of folders that starts and ends with it."""
    start, members = comp[0], set(comp)
    came_from, queue = {}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, ())):
            if w not in members or w in came_from:
                continue
            came_from[w] = v
            if w == start:
                path = [start]
                while True:
                    path.append(came_from[path[-1]])
                    if path[-1] == start:
                        return path[::-1]
            queue.append(w)
    raise AssertionError("a strongly connected component without a cycle")


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if not os.path.isdir(root):
        print(f"check-layers: {root} is not a folder", file=sys.stderr)
        return 2

    violations = []
    edges = {}      # folder -> {folder it includes from}
    example = {}    # (folder, folder) -> "file:line -> target", for the cycle report
    files = 0
    for src in sources(root):
        files += 1
        with open(os.path.join(root, src), encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, target = m.groups()
                where = f"{src}:{lineno}"
                if kind == "<":
                    why = check_system(src, target)
                    if why:
                        violations.append(f"{where}: includes <{target}>: {why}")
                    continue
                dst = resolve(root, src, target)
                if dst is None:
                    violations.append(f'{where}: includes "{target}": no such file')
                    continue
                why = check_quoted(src, dst)
                if why:
                    violations.append(f'{where}: includes "{target}": {why}')
                a, b = os.path.dirname(src) or ".", os.path.dirname(dst) or "."
                if a != b:
                    edges.setdefault(a, set()).add(b)
                    example.setdefault((a, b), f"{where} -> {dst}")

    for comp in folder_cycles(edges):
        path = shortest_cycle(edges, comp)
        links = [example[(a, b)] for a, b in zip(path, path[1:])]
        violations.append("cycle between folders "
                          + " -> ".join(f + "/" for f in path) + ": " + "; ".join(links))

    for v in violations:
        print(v)
    print(f"check-layers: {files} files, {len(violations)} violation"
          f"{'' if len(violations) == 1 else 's'}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
