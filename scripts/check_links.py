#!/usr/bin/env python3
"""Check that every relative link in the repository's Markdown files resolves.

A user reads the Markdown of a fresh clone, so the files that count are the
ones git tracks (`git ls-files`): a link to an untracked or ignored file
would work here and be broken in the clone. For every tracked `*.md` file
the script reads inline links and images (`[text](target)`), reference
definitions (`[id]: target`) and HTML `href`/`src` attributes, outside code
blocks and code spans, and checks each relative target:

- the path must stay inside the repository (`../shared/...` does not);
- it must name a tracked file, or a directory holding one;
- a `#fragment` on a Markdown target (or on the file itself) must match one
  of its headings, as GitHub turns them into anchors, or an explicit
  `id`/`name` in its HTML.

Absolute URLs (`https:`, `mailto:`, ...) are not fetched: the check runs
offline. Exit status 1 lists every broken link as `file:line: message`.

Usage: scripts/check_links.py [repository root, default: this checkout]
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import unquote

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# [text](target "title") and ![alt](target); text may hold one level of [].
INLINE = re.compile(r"!?\[(?:[^\[\]\\]|\\.|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"""<[a-z][^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def tracked_files(root: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", root, "ls-files", "-z"], check=True, capture_output=True, text=True
    ).stdout
    return [path for path in out.split("\0") if path]


def strip_code_spans(line: str) -> str:
    """The line with inline code replaced by spaces (links there are text)."""
    return CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


def prose_lines(text: str):
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            continue
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        yield number, line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lower-cased, every
    character that is not a letter, digit, mark, `_`, `-` or space dropped,
    and spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("`", "")
    text = re.sub(r"(\*\*|\*)(\S(?:.*?\S)?)\1", r"\2", text)  # emphasis with * ...
    text = re.sub(r"(?<![\w])(__|_)(\S(?:.*?\S)?)\1(?![\w])", r"\2", text)  # ... and _, not inside words
    kept = []
    for char in text.strip().lower():
        category = unicodedata.category(char)
        if char in "-_ " or category[0] in ("L", "N", "M"):
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (repeats
    numbered -1, -2, ... as GitHub does) and explicit HTML ids and names."""
    found: set[str] = set()
    seen: dict[str, int] = {}

    def add_heading(title: str) -> None:
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")

    previous = None
    for _, line in prose_lines(text):
        atx = ATX_HEADING.match(line)
        if atx:
            add_heading(atx.group(2))
        elif previous and previous.strip() and SETEXT_UNDERLINE.match(line) and not previous.startswith(("    ", "\t")):
            # A "---" under a list item or table row is no heading; under a
            # paragraph line it is.
            if not re.match(r"^\s*([-*+]|\d+[.)]|\|)", previous):
                add_heading(previous.strip())
        found.update(HTML_ANCHOR.findall(line))
        previous = line
    return found


def links(text: str):
    """(line number, target) of every link in prose."""
    for number, line in prose_lines(text):
        prose = strip_code_spans(line)
        for match in INLINE.finditer(prose):
            yield number, match.group(1)
        match = REFERENCE.match(prose)
        if match:
            yield number, match.group(1)
        for target in HTML_LINK.findall(prose):
            yield number, target


def check(root: str) -> list[str]:
    files = tracked_files(root)
    tracked = set(files)
    directories = {str(parent) for path in files for parent in PurePosixPath(path).parents}
    markdown = [path for path in files if path.lower().endswith(".md")]
    anchor_cache: dict[str, set[str]] = {}

    def anchors_of(path: str) -> set[str]:
        if path not in anchor_cache:
            with open(f"{root}/{path}", encoding="utf-8") as handle:
                anchor_cache[path] = anchors(handle.read())
        return anchor_cache[path]

    problems = []
    for source in markdown:
        with open(f"{root}/{source}", encoding="utf-8") as handle:
            text = handle.read()
        for number, raw in links(text):
            target = raw[1:-1] if raw.startswith("<") and raw.endswith(">") else raw
            if not target or SCHEME.match(target) or target.startswith("//"):
                continue
            path_part, _, fragment = target.partition("#")
            path_part = unquote(path_part.split("?", 1)[0])
            where = f"{source}:{number}"
            if path_part.startswith("/"):
                problems.append(f"{where}: {raw} is absolute: link relative to the file instead")
                continue
            if path_part:
                resolved = _normalize(PurePosixPath(source).parent / path_part)
                if resolved is None:
                    problems.append(f"{where}: {raw} points outside the repository")
                    continue
            else:
                resolved = source
            if resolved not in tracked and resolved not in directories:
                problems.append(f"{where}: {raw}: {resolved} is not in the repository (git ls-files)")
                continue
            if fragment and resolved in tracked and resolved.lower().endswith(".md"):
                if unquote(fragment) not in anchors_of(resolved):
                    problems.append(f"{where}: {raw}: {resolved} has no heading or id #{fragment}")
    return problems


def _normalize(path: PurePosixPath) -> str | None:
    """`path` with `.` and `..` resolved, or None if it leaves the root."""
    parts: list[str] = []
    for part in path.parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts) if parts else "."


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True, text=True
    ).stdout.strip()
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} broken relative link(s) in Markdown files")
        return 1
    print("every relative link in the tracked Markdown files resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
