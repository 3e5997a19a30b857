#!/usr/bin/env bash
# Generates Python stubs from proto/ with grpcio-tools, starts rapportd on a
# free loopback port, runs client.py against it, and stops the server.
# Usage: examples/python/run.sh [path/to/rapportd]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rapportd=${1:-$root/target/debug/rapportd}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet grpcio grpcio-tools
"$work/venv/bin/python" -m grpc_tools.protoc -I "$root/proto" \
  --python_out="$work" --grpc_python_out="$work" "$root"/proto/rapport/v1/*.proto

port=$("$work/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$rapportd" --listen "127.0.0.1:$port" --in-memory >"$work/server.log" 2>&1 &
server_pid=$!
PYTHONPATH="$work" "$work/venv/bin/python" "$root/examples/python/client.py" "127.0.0.1:$port" || {
  echo "--- server log"; cat "$work/server.log"; exit 1;
}
