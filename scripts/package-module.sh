#!/usr/bin/env bash
# Assembles a ready-to-copy TenantAttach module folder: the manifest, script module, public and
# private functions, formats, the C# interop file, and the native library (release build) under
# bin/<os>-<arch>/. Usage: scripts/package-module.sh [OUT_DIR]   (default dist/TenantAttach)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-dist/TenantAttach}
cargo build --release -p tenant-attach
case "$(uname -s)" in
  Linux) os=linux; lib=libtenant_attach.so ;;
  Darwin) os=osx; lib=libtenant_attach.dylib ;;
  MINGW*|MSYS*|CYGWIN*) os=win; lib=tenant_attach.dll ;;
  *) echo "unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
rm -rf "$OUT"
mkdir -p "$OUT/bin/$os-$arch"
cp -r powershell/TenantAttach/. "$OUT/"
cp "target/release/$lib" "$OUT/bin/$os-$arch/"
cp include/tenant_attach.h "$OUT/bin/"
echo "module ready: $OUT (native library bin/$os-$arch/$lib)"
echo "use it: Import-Module $OUT/TenantAttach.psd1"
