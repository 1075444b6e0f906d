#!/bin/sh
# Start the scoring service on the real Deno binary, in place of this shell (exec): SIGTERM and
# SIGINT sent to the process you started reach the server, which drains and exits. (`npm` and the
# `deno` npm package's launcher run Deno as a child and do not pass signals on; `deno task serve`
# notices its wrapper dying, this does not need to.) Relative paths are taken from the current
# folder. Usage: scripts/serve.sh --detector DIR [--port P] … (see --help).
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
deno="$root/node_modules/deno/deno"
[ -x "$deno" ] || deno=$(command -v deno) || {
  echo "error: no Deno binary: run scripts/setup.sh (or npm ci) in $root first" >&2
  exit 1
}
INIT_CWD=$(pwd)
export INIT_CWD
exec "$deno" run -A --unstable-no-legacy-abort --config "$root/deno.json" "$root/tasks/serve.ts" "$@"
