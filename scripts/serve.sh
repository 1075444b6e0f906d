#!/bin/sh
# Start the scoring service: `grood serve` (the `grood` launcher at the checkout's root, which
# execs the real Deno binary in place of the shell, so SIGTERM and SIGINT sent to the process you
# started reach the server, which drains and exits). Relative paths are taken from the current
# folder. Usage: scripts/serve.sh --detector DIR [--port P] … (see --help).
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/grood" serve "$@"
