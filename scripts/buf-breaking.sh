#!/usr/bin/env bash
# Fails when the rapport.v1 contract in this checkout breaks an earlier one:
# `buf breaking` with buf.yaml's rules (FILE: no field renumbered, removed,
# retyped or renamed, no message, enum value or RPC removed, ...).
#
#   scripts/buf-breaking.sh [AGAINST]      (buf from $BUF, else from PATH)
#
# Against what, in this order:
#
# 1. AGAINST, or $BUF_BREAKING_AGAINST: a commit the caller names. A CI
#    that knows the main commit it tested last passes it (the exact
#    "previous main").
# 2. The newest release tag (v1.2.3) before HEAD: once releases exist,
#    what must not break is what users run. Changes between two
#    unreleased commits are free.
# 3. Otherwise the previous main, worked out from history, as follows.
#    `land` fast-forwards main to a branch tip, so one landing can bring
#    several commits, and a branch that merged main has its own previous
#    commit as first parent. HEAD~1 is therefore not the previous main in
#    general: it would check only the last commit of a landing, and a
#    field renumbered earlier in the same landing would pass. A clone does
#    not record the previous main, but it is always either on HEAD's
#    first-parent line (the branch was not merged with main after it
#    forked) or the main side of the branch's latest merge (the second
#    parent of the nearest merge commit on that line). So the candidates
#    are: every commit on the first-parent line from HEAD~1 back to the
#    nearest merge commit, plus that merge's other parents (or back to the
#    root when there is no merge). Every distinct contract among them is
#    compared (buf runs once per distinct proto tree, usually once or
#    twice). This is sound: the previous main is always among them. Its
#    one false alarm is a branch that, after its last merge of main,
#    changed a field it had added itself; squash such a fix-up into the
#    commit that added the field before landing (running this script on
#    your branch shows it).
#
# A shallow clone may lack those commits: the script then fetches the
# history once (git fetch --unshallow), and if that fails says loudly that
# the check was skipped or partial, instead of failing or passing quietly.
#
# Each baseline is exported with `git archive` rather than read through
# buf's git input (`.git#ref=...`): that input clones the repository again
# at depth 50, so it misses older commits, takes no abbreviated hashes and
# cannot read a linked worktree's `.git` file.
set -euo pipefail
cd "$(dirname "$0")/.."
buf=${BUF:-buf}
against=${1:-${BUF_BREAKING_AGAINST:-}}

short() { git log -1 --format='%h (%s)' "$1" | cut -c1-90; }

# Commits whose contract HEAD must not break, one per line.
candidates() {
  if [ -n "$against" ]; then
    git rev-parse --verify --quiet "$against^{commit}" || {
      echo "buf breaking: $against is not a commit here" >&2
      exit 2
    }
    return
  fi
  local head tag
  head=$(git rev-parse HEAD)
  while read -r tag; do
    if [ "$(git rev-parse "$tag^{commit}")" != "$head" ]; then
      echo "buf breaking: against the last release, $tag" >&2
      git rev-parse "$tag^{commit}"
      return
    fi
  done < <(git tag --merged HEAD --list 'v[0-9]*' --sort=-v:refname)
  local commit parents
  while read -r commit parents; do
    [ "$commit" = "$head" ] || echo "$commit"
    set -- $parents
    if [ $# -gt 1 ]; then
      shift
      printf '%s\n' "$@"
      return
    fi
  done < <(git rev-list --first-parent --parents HEAD)
}

# Whether the first-parent walk stopped at a shallow boundary rather than
# at a merge or the root.
walk_is_cut() {
  [ -z "$against" ] || return 1
  local shallow last
  shallow=$(git rev-parse --git-path shallow)
  [ -s "$shallow" ] || return 1
  last=$(git rev-list --first-parent --parents HEAD | awk 'NF > 2 { exit } { last = $1 } END { print last }')
  grep -qx "$last" "$shallow"
}

if [ -z "$against" ] && walk_is_cut && git remote get-url origin >/dev/null 2>&1; then
  echo "buf breaking: shallow clone, fetching the history to find the previous contract"
  git fetch --quiet --unshallow origin || true
fi

mapfile -t commits < <(candidates)
cut=no
if walk_is_cut; then cut=yes; fi
if [ ${#commits[@]} -eq 0 ]; then
  if [ "$cut" = yes ]; then
    echo "buf breaking: SKIPPED: this is a shallow clone without the commit before HEAD and it could not be fetched; clone with history (git clone without --depth, or git fetch --unshallow) to check rapport.v1"
  else
    echo "buf breaking: HEAD is the first commit: no earlier contract to compare with"
  fi
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
declare -A seen=()
checked=0
failed=0
for commit in "${commits[@]}"; do
  proto=$(git rev-parse --verify --quiet "$commit:proto" || true)
  [ -n "$proto" ] || continue # before the contract existed
  config=$(git rev-parse --verify --quiet "$commit:buf.yaml" || true)
  key="$proto $config"
  [ -z "${seen[$key]:-}" ] || continue
  seen[$key]=1
  dir="$work/$checked"
  mkdir -p "$dir"
  git archive --format=tar "$commit" proto $([ -n "$config" ] && echo buf.yaml) | tar -x -C "$dir"
  # A contract from before buf.yaml existed is read with today's layout.
  [ -n "$config" ] || cp buf.yaml "$dir/"
  checked=$((checked + 1))
  if output=$("$buf" breaking --against "$dir" 2>&1); then
    echo "buf breaking: compatible with $(short "$commit")"
  else
    failed=$((failed + 1))
    echo "buf breaking: rapport.v1 breaks the contract of $(short "$commit"):"
    echo "$output"
  fi
done
if [ "$cut" = yes ]; then
  echo "buf breaking: PARTIAL: the history is shallow; compared with the $checked contract(s) present, but the previous main may be older: clone with history to check it"
fi
if [ "$checked" -eq 0 ]; then
  echo "buf breaking: no earlier commit has a contract (proto/) to compare with"
fi
[ "$failed" -eq 0 ]
