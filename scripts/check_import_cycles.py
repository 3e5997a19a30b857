#!/usr/bin/env python3
"""Fail when the modules of a Rust crate import each other in a loop.

A loop (a module A that needs B while B needs A, directly or through
others) means one of them holds something that belongs to neither; it
should move down to a module both can use. The script builds the module
graph of one crate from its sources and lists every loop it finds.

Nodes are the crate's modules: one per file (`lib.rs`/`main.rs` is the
root, `a.rs` or `a/mod.rs` is `a`, `a/b.rs` is `a::b`) and one per inline
`mod name { ... }`. Test code is left out: whatever follows `#[cfg(test)]`
(a `mod tests`, a helper) is skipped, since a test may reach anywhere.

Edges are the paths a module names, in `use` declarations (groups,
`self`, `as` and globs included) and anywhere in its code: paths starting
with `crate::`, `super::` or `self::`, and paths starting with the name of
one of its own child modules. A path resolves to the deepest module it
names (`crate::accounts::AccountPayload` is an edge to `accounts`,
`crate::accounts::legacy::AccountRecordV1` one to `accounts::legacy`).
`mod` declarations themselves are not edges: declaring a child is
containment, not use; but a parent that re-exports or calls into a child
(`pub use child::Thing;`) uses it, so a child that also reaches back into
its parent (`use super::Helper;`, with `Helper` defined in the parent's
file) closes a loop. Paths into other crates (`std::`, `dashmap::`) are
ignored, and so are macro paths (`$crate::`).

Exit status 1 lists each knot of modules that reach each other: one loop
through it, and every edge among its modules with the first `file:line`
that makes it (remove edges until no loop is left).

Usage: scripts/check_import_cycles.py CRATE_SRC_DIR [CRATE_SRC_DIR ...]
       (for example crates/engine/src)
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
RAW_STRING = re.compile(r'b?r(#*)"')
CHAR = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'])'")
TOKEN = re.compile(r"\s+|::|[{}(),;*#!\[\]]|r#" + IDENT + "|" + IDENT + r"|\S")


# === Reading a file: comments, strings and test code out ===


def strip_comments_and_strings(text: str) -> str:
    """The text with comments, string and char literals blanked out (line
    breaks kept, so line numbers stay right)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            i = end
            continue
        if text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
            continue
        raw = RAW_STRING.match(text, i)
        if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            closing = '"' + raw.group(1)
            end = text.find(closing, raw.end())
            end = n if end < 0 else end + len(closing)
            out.append(blank(text[i:end]))
            i = end
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i : j + 1]))
            i = j + 1
            continue
        if c == "'":
            char = CHAR.match(text, i)
            if char:
                out.append(blank(char.group(0)))
                i = char.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def blank(text: str) -> str:
    return "".join("\n" if ch == "\n" else " " for ch in text)


@dataclass
class Token:
    text: str
    line: int


def tokens(code: str) -> list[Token]:
    result, line = [], 1
    for match in TOKEN.finditer(code):
        text = match.group(0)
        if not text.isspace():
            result.append(Token(text, line))
        line += text.count("\n")
    return result


def skip_attribute(toks: list[Token], i: int) -> tuple[int, str]:
    """From a `#` at `i`: the index after its attribute and the attribute's
    text without spaces."""
    j = i + 1
    if j < len(toks) and toks[j].text == "!":
        j += 1
    if j >= len(toks) or toks[j].text != "[":
        return i + 1, ""
    depth, start = 0, j
    while j < len(toks):
        if toks[j].text == "[":
            depth += 1
        elif toks[j].text == "]":
            depth -= 1
            if depth == 0:
                break
        j += 1
    return j + 1, "".join(t.text for t in toks[start : j + 1])


def skip_item(toks: list[Token], i: int) -> int:
    """From the start of an item at `i`: the index after it (its `;` at
    depth 0, or the `}` closing its first block)."""
    depth = 0
    while i < len(toks):
        t = toks[i].text
        if t in "([":
            depth += 1
        elif t in ")]":
            depth -= 1
        elif t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif t == ";" and depth == 0:
            return i + 1
        i += 1
    return i


def is_test_attribute(attribute: str) -> bool:
    return attribute.startswith("[cfg(") and re.search(r"\btest\b", attribute) is not None and "not(test" not in attribute


# === The module tree ===


@dataclass
class Module:
    path: tuple[str, ...]
    file: str
    children: set[str] = field(default_factory=set)
    # Paths named here: (segments, line), segments relative to this module.
    uses: list[tuple[list[str], int]] = field(default_factory=list)


class Crate:
    def __init__(self, src: str):
        self.src = src
        self.modules: dict[tuple[str, ...], Module] = {}
        root = next((f for f in ("lib.rs", "main.rs") if os.path.exists(os.path.join(src, f))), None)
        if root is None:
            raise SystemExit(f"{src}: no lib.rs or main.rs")
        self.load_file((), os.path.join(src, root), os.path.dirname(os.path.join(src, root)), True)

    def load_file(self, path: tuple[str, ...], file: str, directory: str, owns_directory: bool) -> None:
        """Reads module `path` from `file`; its child files live in
        `directory` (the file's own directory for `mod.rs` and the root,
        else a directory named after the module)."""
        with open(file, encoding="utf-8") as handle:
            toks = tokens(strip_comments_and_strings(handle.read()))
        module = Module(path, os.path.relpath(file))
        self.modules[path] = module
        child_dir = directory if owns_directory else os.path.join(directory, path[-1])
        self.read_items(module, toks, 0, len(toks), child_dir)

    def read_items(self, module: Module, toks: list[Token], i: int, end: int, child_dir: str) -> None:
        while i < end:
            t = toks[i].text
            if t == "#":
                after, attribute = skip_attribute(toks, i)
                if is_test_attribute(attribute):
                    j = after
                    while j < end and toks[j].text == "#":
                        j, _ = skip_attribute(toks, j)
                    i = skip_item(toks, j)
                    continue
                i = after
                continue
            if t == "mod" and i + 1 < end and re.fullmatch(IDENT, toks[i + 1].text):
                name = toks[i + 1].text
                module.children.add(name)
                following = toks[i + 2].text if i + 2 < end else ";"
                if following == ";":
                    self.load_child(module, name, child_dir)
                    i += 3
                    continue
                if following == "{":
                    close = skip_item(toks, i)
                    child = Module(module.path + (name,), module.file)
                    self.modules[child.path] = child
                    self.read_items(child, toks, i + 3, close - 1, os.path.join(child_dir, name))
                    i = close
                    continue
            if t == "use" and (i == 0 or toks[i - 1].text != "::"):
                close = skip_item(toks, i)
                for segments in expand_use(toks[i + 1 : close - 1]):
                    module.uses.append((segments, toks[i].line))
                i = close
                continue
            if t in ("crate", "super", "self") or (t in module.children and t != "self"):
                before = toks[i - 1].text if i else ""
                if before not in ("::", "$") and i + 1 < end and toks[i + 1].text == "::":
                    segments, j = [t], i + 1
                    while j + 1 < end and toks[j].text == "::" and re.fullmatch(IDENT, toks[j + 1].text):
                        segments.append(toks[j + 1].text)
                        j += 2
                    module.uses.append((segments, toks[i].line))
                    i = j
                    continue
            i += 1

    def load_child(self, parent: Module, name: str, child_dir: str) -> None:
        flat = os.path.join(child_dir, name + ".rs")
        nested = os.path.join(child_dir, name, "mod.rs")
        if os.path.exists(flat):
            self.load_file(parent.path + (name,), flat, child_dir, False)
        elif os.path.exists(nested):
            self.load_file(parent.path + (name,), nested, os.path.join(child_dir, name), True)

    # === Edges ===

    def resolve(self, module: Module, segments: list[str]) -> tuple[str, ...] | None:
        """The deepest module `segments` (as written in `module`) names, or
        None for a path into another crate."""
        first = segments[0]
        if first == "crate":
            base, rest = (), segments[1:]
        elif first in ("super", "self"):
            base, rest = module.path, segments
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    base = base[:-1]
                rest = rest[1:]
        elif first in module.children:
            base, rest = module.path, segments
        else:
            return None
        target = base
        for segment in rest:
            if target + (segment,) in self.modules:
                target = target + (segment,)
            else:
                break
        return target

    def edges(self) -> dict[tuple[str, ...], dict[tuple[str, ...], str]]:
        """For each module, the modules it uses, each with the first
        `file:line` that uses it."""
        graph: dict[tuple[str, ...], dict[tuple[str, ...], str]] = {path: {} for path in self.modules}
        for module in self.modules.values():
            for segments, line in module.uses:
                target = self.resolve(module, segments)
                if target is None or target == module.path:
                    continue
                graph[module.path].setdefault(target, f"{module.file}:{line}")
        return graph


def expand_use(toks: list[Token]) -> list[list[str]]:
    """The paths of one use tree: `a::{self, b, c::d as e, f::*}` gives
    a, a::b, a::c::d and a::f. A path from the extern prelude (`::x`) gives
    nothing."""
    paths: list[list[str]] = []

    def tree(i: int, prefix: list[str]) -> int:
        path = list(prefix)
        while i < len(toks):
            t = toks[i].text
            if t == "{":
                i += 1
                while i < len(toks) and toks[i].text != "}":
                    i = tree(i, path)
                    if i < len(toks) and toks[i].text == ",":
                        i += 1
                return i + 1
            if t in (",", "}"):
                break
            if t == "as":
                i += 2
                continue
            if t not in ("::", "*", "self"):
                path.append(t)
            i += 1
        paths.append(path)
        return i

    if toks and toks[0].text != "::":
        tree(0, [])
    return [path for path in paths if path]


# === Loops ===


def tangles(graph: dict[tuple[str, ...], dict[tuple[str, ...], str]]) -> list[list[tuple[str, ...]]]:
    """The strongly connected components of more than one module (Tarjan):
    within one, every module reaches every other, so each is one knot of
    loops to untie. Sorted by name."""
    index: dict[tuple[str, ...], int] = {}
    low: dict[tuple[str, ...], int] = {}
    stack: list[tuple[str, ...]] = []
    on_stack: set[tuple[str, ...]] = set()
    components: list[list[tuple[str, ...]]] = []
    counter = [0]

    def connect(v: tuple[str, ...]) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    sys.setrecursionlimit(max(10_000, 4 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [sorted(component) for component in sorted(components, key=min)]


def shortest_loop(graph, component: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The shortest loop from the component's first module back to it,
    staying inside the component (breadth first)."""
    members = set(component)
    start = component[0]
    previous: dict[tuple[str, ...], tuple[str, ...]] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in members:
                    continue
                if w == start:
                    loop = [v]
                    while loop[-1] != start:
                        loop.append(previous[loop[-1]])
                    return list(reversed(loop))
                if w not in previous:
                    previous[w] = v
                    following.append(w)
        frontier = following
    return component


def name(path: tuple[str, ...]) -> str:
    return "crate::" + "::".join(path) if path else "crate"


def report(src: str) -> list[str]:
    """The loops of the crate under `src`: per knot of modules that reach
    each other, one loop through them and every edge among them, each with
    the `file:line` that makes it."""
    graph = Crate(src).edges()
    messages = []
    for knot in tangles(graph):
        loop = shortest_loop(graph, knot)
        steps = loop + [loop[0]]
        lines = [f"{src}: import loop {' -> '.join(name(p) for p in steps)}"]
        members = set(knot)
        if len(knot) > len(loop):
            lines.append(f"  in a knot of {len(knot)} modules that all reach each other; every edge among them:")
        else:
            lines.append("  edges:")
        for a in knot:
            for b, at in sorted(graph[a].items()):
                if b in members:
                    lines.append(f"    {name(a)} -> {name(b)} at {at}")
        messages.append("\n".join(lines))
    return messages


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: scripts/check_import_cycles.py CRATE_SRC_DIR [CRATE_SRC_DIR ...]", file=sys.stderr)
        return 2
    messages = [message for src in argv for message in report(src)]
    for message in messages:
        print(message)
    if messages:
        print(f"{len(messages)} import loop(s)")
        return 1
    for src in argv:
        print(f"{src}: no import loops")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
