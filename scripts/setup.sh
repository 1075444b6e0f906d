#!/usr/bin/env bash
# Set-up for a fresh Debian 12 machine with Node 20, as root. Idempotent, and quiet when
# everything is in place: installs the apt packages that are missing, runs `npm ci` when the
# lockfile changed since the last install (it brings Deno itself, from the npm package `deno`),
# registers this checkout's Deno Jupyter kernel (in .jupyter/), and builds the OOD sets (skipping those that match their
# manifests). Called by `npm test` and `npm run reproduce`.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(dataset-fashion-mnist jupyter-nbconvert python3-nbclient jupyter-client fonts-dejavu-core chromium haproxy postgresql)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
ood_built=yes
for set in letters letters-val textures textures-val objects photos; do
  [ -f ".data/ood/${set}-images-idx3-ubyte" ] || ood_built=no
done
if [ ${#missing[@]} -gt 0 ] || [ "$ood_built" = no ]; then
  echo "setup: apt-get update" >&2
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=node_modules/.grood-package-lock.sha256
if [ ! -f "$stamp" ] || ! sha256sum --check --status "$stamp" 2>/dev/null; then
  echo "setup: npm ci" >&2
  # Native addons (hnswlib-node) build against the headers installed with Node, whatever the
  # user's npm settings: without this, node-gyp tries to download them from a host we cannot reach.
  npm_config_nodedir=/usr npm ci --no-audit --no-fund --loglevel=error
  sha256sum package-lock.json > "$stamp"
fi
deno="node_modules/.bin/deno"

# The Deno Jupyter kernel is registered per checkout, in .jupyter/ (never the user-wide
# ~/.local/share/jupyter/kernels, where two checkouts would overwrite each other's deno path).
"$deno" run -A tasks/notebooks.ts --kernel-only >/dev/null

"$deno" run -A tasks/data.ts --quiet
