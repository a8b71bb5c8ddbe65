# Sourced by scripts/package-module.sh and scripts/package-nuget.sh: what both packages start from.
#   $1 (DIST, default dist), TA_PACKAGE_PROFILE (release | debug), TA_PACKAGE_NO_CARGO=1 (pack the
#   library target/<profile>/ already holds, without running cargo)
# Sets ROOT, DIST (absolute), PROFILE, VERSION (Cargo.toml's), and the .NET CLI's quiet settings;
# build_library FILE builds the library (or checks it is built) as target/$PROFILE/FILE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DIST=${1:-dist}
case $DIST in /*) ;; *) DIST=$ROOT/$DIST ;; esac
PROFILE=${TA_PACKAGE_PROFILE:-release}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$VERSION" ] || { echo "cannot read the package version from Cargo.toml" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

build_library() {
  if [ "${TA_PACKAGE_NO_CARGO:-}" = 1 ]; then
    # The library already built (test.sh: the debug build with its test hooks, left as it is).
    [ -f "target/$PROFILE/$1" ] || { echo "TA_PACKAGE_NO_CARGO=1 but target/$PROFILE/$1 is not built: build it first" >&2; exit 1; }
  elif [ "$PROFILE" = release ]; then cargo build --release -p tenant-attach
  else cargo build -p tenant-attach; fi
}
