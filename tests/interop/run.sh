#!/usr/bin/env bash
# Microsoft's own clients and a real browser against tenant-attach-cloud (the built binary):
# MSAL for Python and MSAL.NET (tokens), the Graph SDK for JavaScript (Graph calls), headless
# Chromium (the admin page, whose click arrives through the gateway). Prints TAP lines; exit 1 on any
# failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$WORK"; }
trap cleanup EXIT

start_cloud() { # name extra-args... ; sets URL and CA
  local dir="$WORK/$1"; shift
  # Test timings, chosen explicitly (Microsoft's: a 5-minute ingestion delay, 5-second device code polls).
  target/debug/tenant-attach-cloud --listen 127.0.0.1:0 --data-dir "$dir" --ready-file "$dir.ready" \
    --ingestion-delay-ms 0 --device-code-interval 1 "$@" >"$dir.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do [ -s "$dir.ready" ] && break; sleep 0.1; done
  URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$dir.ready")
  CA="$dir/ca.pem"
}

status=0
start_cloud https
python3 tests/interop/setup_cloud.py "$URL" "$CA" >"$WORK/setup.json" || { echo "not ok - setting up the cloud failed"; exit 1; }
echo "# MSAL for Python $(python3 -c 'import msal; print(msal.__version__)') against $URL"
python3 tests/interop/test_msal.py "$URL" "$CA" || status=1
# MSAL.NET on the same cloud (tests/interop/msal-dotnet; its build output goes to target/dotnet/).
if command -v dotnet >/dev/null 2>&1; then
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
  MSAL_NET=tests/interop/msal-dotnet/MsalInterop.csproj
  if timeout -k 10 600 dotnet build "$MSAL_NET" --nologo -v quiet -clp:NoSummary >"$WORK/msal-dotnet-build.log" 2>&1; then
    echo "# MSAL.NET (Microsoft.Identity.Client) on .NET $(dotnet --version) against $URL"
    timeout -k 10 300 dotnet run --project "$MSAL_NET" --no-build -- "$URL" "$CA" || status=1
  else
    cat "$WORK/msal-dotnet-build.log"; echo "not ok 1 - tests/interop/msal-dotnet does not build (see above)"; status=1
  fi
else
  echo "not ok 1 - dotnet is not installed (MSAL.NET is tested with the .NET SDK)"; status=1
fi
echo "# Microsoft Graph SDK for JavaScript against $URL"
NODE_EXTRA_CA_CERTS="$CA" node tests/interop/graph_sdk.mjs "$URL" || status=1

# The browser test uses a plain-HTTP instance, so that nothing in the browser skips certificate checks.
start_cloud http --http
python3 tests/interop/setup_cloud.py "$URL" >"$WORK/setup-http.json" || { echo "not ok - setting up the HTTP cloud failed"; exit 1; }
TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["siteToken"])' "$WORK/setup-http.json")
HIER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hierarchyId"])' "$WORK/setup-http.json")
echo "# headless $(chromium --version 2>/dev/null | head -1) on the admin page at $URL"
node tests/interop/admin_page.mjs "$URL" "$TOKEN" "$HIER" || status=1
exit $status
