#!/usr/bin/env bash
# Tests of scripts/buf-breaking.sh on throwaway repositories: each case
# builds a small history the way `land` leaves main, and checks that the
# script fails exactly when the landing breaks the previous contract.
#
#   BUF=path/to/buf scripts/test_buf_breaking.sh
set -euo pipefail
script="$(cd "$(dirname "$0")" && pwd)/buf-breaking.sh"
export BUF=${BUF:-buf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.invalid
export GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.invalid
failures=0

# A repository with buf.yaml, the script, and message Event { fields }.
new_repo() {
  local repo="$work/$1"
  git init -q -b main "$repo"
  mkdir -p "$repo/scripts" "$repo/proto/rapport/v1"
  cp "$script" "$repo/scripts/"
  printf 'version: v2\nmodules:\n  - path: proto\nbreaking:\n  use:\n    - FILE\n' >"$repo/buf.yaml"
  echo "$repo"
}

# Sets the contract to message Event with the given fields and commits.
contract() {
  local repo=$1 message=$2
  shift 2
  {
    printf 'syntax = "proto3";\npackage rapport.v1;\nmessage Event {\n'
    printf '  %s;\n' "$@"
    printf '}\n'
  } >"$repo/proto/rapport/v1/events.proto"
  git -C "$repo" add -A
  git -C "$repo" commit -q -m "$message"
}

other_change() {
  echo "$2" >>"$1/notes.txt"
  git -C "$1" add -A
  git -C "$1" commit -q -m "$2"
}

# expect NAME pass|fail|skip REPO [ENV...]: runs the script in REPO.
expect() {
  local name=$1 want=$2 repo=$3
  shift 3
  local got output
  if output=$(cd "$repo" && env "$@" scripts/buf-breaking.sh 2>&1); then got=pass; else got=fail; fi
  if [ "$got" = pass ] && grep -q SKIPPED <<<"$output"; then got=skip; fi
  if [ "$got" = "$want" ]; then
    echo "ok: $name ($got)"
  else
    echo "FAILED: $name: expected $want, got $got"
    echo "$output" | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}

# 1. Additive changes pass; a renumbered field fails.
r=$(new_repo additive)
contract "$r" "v1" 'string id = 1' 'string account_id = 2'
contract "$r" "add labels" 'string id = 1' 'string account_id = 2' 'string segment = 3'
expect "a new field" pass "$r"
contract "$r" "renumber" 'string id = 1' 'string account_id = 5' 'string segment = 3'
expect "a renumbered field" fail "$r"

# 2. Several commits land at once, the break in the first: HEAD~1 alone
#    already has the break, the walk finds the previous main before it.
r=$(new_repo linear)
contract "$r" "v1" 'string id = 1' 'string account_id = 2'
contract "$r" "branch: renumber" 'string id = 1' 'string account_id = 7'
other_change "$r" "branch: docs"
expect "a break earlier in a linear landing" fail "$r"

# 3. A branch renumbers, merges main (which moved), and lands: HEAD is the
#    merge, whose first parent is the branch.
r=$(new_repo merged)
contract "$r" "v1" 'string id = 1' 'string account_id = 2'
git -C "$r" checkout -q -b feature
contract "$r" "feature: renumber" 'string id = 1' 'string account_id = 9'
git -C "$r" checkout -q main
other_change "$r" "main moves"
git -C "$r" checkout -q feature
git -C "$r" merge -q --no-edit main
expect "a break before the landing's merge of main" fail "$r"
other_change "$r" "feature: after the merge"
expect "a break before the merge, commits after it" fail "$r"

# 4. The same shape without a break passes, though the branch's merge
#    brings a field main added meanwhile.
r=$(new_repo merged_ok)
contract "$r" "v1" 'string id = 1' 'string account_id = 2'
git -C "$r" checkout -q -b feature
other_change "$r" "feature: work"
git -C "$r" checkout -q main
contract "$r" "main adds" 'string id = 1' 'string account_id = 2' 'string region = 3'
git -C "$r" checkout -q feature
git -C "$r" merge -q --no-edit main
other_change "$r" "feature: more"
expect "a compatible landing with a merge of main" pass "$r"

# 5. Release tags: the contract of the last release must hold; a field
#    added and changed after it was never released.
r=$(new_repo tagged)
contract "$r" "v1" 'string id = 1' 'string account_id = 2'
git -C "$r" tag v0.1.0
contract "$r" "add plan" 'string id = 1' 'string account_id = 2' 'string plan = 3'
contract "$r" "renumber plan" 'string id = 1' 'string account_id = 2' 'string plan = 4'
expect "a change to a field added after the last release" pass "$r"
contract "$r" "renumber account_id" 'string id = 1' 'string account_id = 6' 'string plan = 4'
expect "a change to a released field" fail "$r"

# 6. An explicit baseline wins.
expect "an explicit baseline before the break" fail "$r" BUF_BREAKING_AGAINST=v0.1.0
expect "an explicit baseline after the break" pass "$r" BUF_BREAKING_AGAINST=HEAD

# 7. Shallow clones: with the origin reachable the history is fetched and
#    checked; without it the check says it was skipped.
git clone -q --depth 1 "file://$work/linear" "$work/shallow"
expect "a shallow clone that can fetch its history" fail "$work/shallow"
git clone -q --depth 1 "file://$work/linear" "$work/shallow_offline"
git -C "$work/shallow_offline" remote remove origin
expect "a shallow clone without its history" skip "$work/shallow_offline"

# 8. The first commit has nothing to compare with.
r=$(new_repo first)
contract "$r" "v1" 'string id = 1'
expect "the first commit" pass "$r"

if [ "$failures" -gt 0 ]; then
  echo "$failures buf-breaking case(s) failed"
  exit 1
fi
echo "every buf-breaking case behaves"
