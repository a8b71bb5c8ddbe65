#!/usr/bin/env bash
# Installs what the tests need on Debian 12: compilers for the C tests, mono for the C# tests,
# chromium for the admin page tests, Python packages for the PowerShell parse check and the MSAL
# interop tests, npm packages for the Graph SDK interop tests, cargo-nextest and cargo-fuzz. Idempotent
# and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=(gcc g++ valgrind mono-mcs mono-runtime chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and Python usually come with the machine (Node 20, pyenv's Python); Debian's only when absent.
command -v node >/dev/null || missing+=(nodejs npm)
command -v python3 >/dev/null || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v timeout >/dev/null || missing+=(coreutils)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -c "import tree_sitter, tree_sitter_powershell, msal, pytest, requests" 2>/dev/null; then
  echo "install-deps: pip install -r tests/requirements.txt"
  # Debian's own Python refuses pip installs without this flag (PEP 668); older pips do not know it.
  pip_flags=(-q)
  if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
    pip_flags+=(--break-system-packages)
  fi
  python3 -m pip install "${pip_flags[@]}" -r tests/requirements.txt
fi

if [ -f tests/interop/package-lock.json ] && [ ! -d tests/interop/node_modules/puppeteer-core ]; then
  echo "install-deps: npm ci in tests/interop"
  # puppeteer-core never downloads a browser: the tests drive Debian's chromium.
  (cd tests/interop && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-nextest"
  cargo install cargo-nextest --locked
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
