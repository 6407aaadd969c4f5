#!/usr/bin/env python3
"""Fails when the modules of src/ depend on each other in a cycle.

Every file of src/ is one module (`src/server/bind.rs` is `server::bind`,
`src/server/mod.rs` is `server`). A module depends on another when its code
names it: in a `use` line (`use super::shared::Shared;`,
`use crate::{config, server};`) or in a path in the code
(`crate::tls::server_config(…)`). Each path is resolved to the deepest
module it names, so a parent that calls into a child depends on it, and a
child that names an item of its parent's file depends on the parent.
Declaring a child (`mod bind;`) is ownership, not use.

    python3 scripts/module-cycles.py          # exit 1 and the cycles, if any
    python3 scripts/module-cycles.py --edges  # also print every dependency

Standard library only; reads the source text, so it needs no build.
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def module_of(path: Path) -> tuple:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    if parts in (["lib"], ["main"]):
        return ("crate",) if parts == ["lib"] else ("main",)
    return ("crate", *parts)


def strip(text: str) -> str:
    """The code without comments, strings and character literals."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return re.sub(r"'(?:\\.|[^'\\])'", "''", text)


def expand(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = tree.strip()
    depth = 0
    for i, ch in enumerate(tree):
        if ch == "{" and depth == 0:
            prefix = tree[:i]
            inner = tree[i + 1 : tree.rindex("}")]
            out, start, d = [], 0, 0
            for j, c in enumerate(inner + ","):
                if c == "{":
                    d += 1
                elif c == "}":
                    d -= 1
                elif c == "," and d == 0:
                    part = inner[start:j].strip()
                    start = j + 1
                    if part:
                        out += [prefix + p for p in expand(part)]
            return out
    return [re.sub(r"\s+as\s+\w+$", "", tree)]


def resolve(module: tuple, path: str, modules: set):
    """The deepest module of `modules` that `path`, written in `module`,
    names; None for paths outside the crate."""
    parts = [p for p in path.split("::") if p]
    if not parts:
        return None
    if parts[0] == "crate":
        base, rest = ("crate",), parts[1:]
    elif parts[0] in ("super", "self"):
        base = module
        while parts and parts[0] in ("super", "self"):
            if parts.pop(0) == "super":
                base = base[:-1]
        rest = parts
    elif module == ("main",) and parts[0] == "duplex":
        base, rest = ("crate",), parts[1:]
    else:
        # A sibling named without `self::` (2018 paths) or an outside crate.
        candidate = module + (parts[0],)
        if candidate in modules:
            base, rest = candidate, parts[1:]
        else:
            return None
    found = base
    for p in rest:
        if found + (p,) in modules:
            found = found + (p,)
        else:
            break
    return found


def main() -> int:
    files = sorted(SRC.rglob("*.rs"))
    modules = {module_of(f) for f in files}
    deps = {m: set() for m in modules}
    # Paths in the code: from the crate root, relative, or starting with a
    # child module's name (`stream::serve(…)`); `resolve` drops the rest.
    path_re = re.compile(r"(?<![\w:])[a-z_]\w*(?:::\w+)+")
    for f in files:
        module = module_of(f)
        code = strip(f.read_text())
        inline = inline_modules(code)
        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", code):
            paths += [(m.start(), p) for p in expand(m.group(1))]
        for m in path_re.finditer(code):
            if not re.search(r"\buse\s+[^;]*$", code[: m.start()].rsplit(";", 1)[-1]):
                paths.append((m.start(), m.group(0)))
        for at, p in paths:
            # `super` inside `mod tests { … }` is the file's own module.
            here = module + tuple(n for (a, b, n) in inline if a < at < b)
            target = resolve(here, p, modules | {here})
            if target is None or target == module:
                continue
            if here != module and target[: len(here)] == here:
                continue  # inside the file's own inline module
            deps[module].add(target)
    if "--edges" in sys.argv:
        for m in sorted(deps):
            for t in sorted(deps[m]):
                print("::".join(m), "->", "::".join(t))
    cycles = strongly_connected(deps)
    for c in cycles:
        print("cycle:", " <-> ".join("::".join(m) for m in sorted(c)))
    edges = sum(len(t) for t in deps.values())
    print(f"{len(modules)} modules, {edges} dependencies, {len(cycles)} cycles")
    return 1 if cycles else 0


def inline_modules(code: str) -> list:
    """(start, end, name) of every `mod name { … }` written inline."""
    out = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", code):
        depth, i = 0, m.end() - 1
        while i < len(code):
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        out.append((m.end(), i, m.group(1)))
    return out


def strongly_connected(graph: dict) -> list:
    """Tarjan's algorithm: the components of more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
