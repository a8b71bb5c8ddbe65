#!/usr/bin/env bash
# Installs what the tests need on Debian 12: compilers for the C tests, mono for the C# tests,
# chromium for the admin page tests, Python packages for the MSAL interop tests and the second
# parse check, npm packages for the Graph SDK interop tests, PowerShell 7 and Pester 5, and
# cargo-fuzz. cargo-nextest is used when present, never required. Idempotent and quick when all is
# there. Needs the .NET SDK (10) and Rust already on the machine.
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
  # Debian's own Python refuses pip installs without this flag (PEP 668); older pips do not know it.
  pip_flags=(-q)
  if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
    pip_flags+=(--break-system-packages)
  fi
  # PIP_WHEELS_DIR names a folder of wheels to fall back on where pip's index does not answer
  # (CI on machines without PyPI sets it); everywhere else pip's index is used as usual.
  if [ -n "${PIP_WHEELS_DIR:-}" ] && [ -d "$PIP_WHEELS_DIR" ] \
      && ! timeout 30 python3 -m pip download -q --no-deps --no-cache-dir --retries 0 --timeout 10 -d "$(mktemp -d)" six >/dev/null 2>&1; then
    echo "install-deps: pip install -r tests/requirements.txt from $PIP_WHEELS_DIR (pip's index does not answer)"
    python3 -m pip install "${pip_flags[@]}" --no-index --find-links "$PIP_WHEELS_DIR" -r tests/requirements.txt
  else
    echo "install-deps: pip install -r tests/requirements.txt"
    python3 -m pip install "${pip_flags[@]}" -r tests/requirements.txt
  fi
fi

if [ -f tests/interop/package-lock.json ] && [ ! -d tests/interop/node_modules/puppeteer-core ]; then
  echo "install-deps: npm ci in tests/interop"
  # puppeteer-core never downloads a browser: the tests drive Debian's chromium.
  (cd tests/interop && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

# PowerShell 7 and Pester 5 for the module's tests: pwsh as a .NET global tool (the .NET SDK is a
# prerequisite, see README), Pester from the machine's NuGet source (nuget.org, where Pester's
# package is Chocolatey-shaped: the module is its tools/ folder) or else the PowerShell Gallery.
PWSH_VERSION=7.6.9 PESTER_VERSION=5.7.1
export PATH="$PATH:$HOME/.dotnet/tools"
if ! command -v pwsh >/dev/null 2>&1; then
  command -v dotnet >/dev/null 2>&1 || { echo "install-deps: the .NET SDK (dotnet) is needed for PowerShell and the C# tests: https://learn.microsoft.com/dotnet/core/install/linux-debian"; exit 1; }
  echo "install-deps: dotnet tool install --global PowerShell --version $PWSH_VERSION"
  dotnet tool install --global PowerShell --version "$PWSH_VERSION" >/dev/null
fi
if ! pwsh -NoProfile -NonInteractive -Command "if (-not (Get-Module -ListAvailable Pester | Where-Object Version -ge '$PESTER_VERSION')) { exit 1 }"; then
  echo "install-deps: Pester $PESTER_VERSION"
  nuget_source=$(dotnet nuget list source 2>/dev/null | awk '/\[Enabled\]/ { getline; print $1; exit }')
  PESTER_VERSION=$PESTER_VERSION NUGET_SOURCE=${nuget_source:-https://api.nuget.org/v3/index.json} pwsh -NoProfile -NonInteractive -Command '
    $ErrorActionPreference = "Stop"
    $version = $env:PESTER_VERSION
    $scratch = Join-Path ([IO.Path]::GetTempPath()) ("pester-" + [guid]::NewGuid())
    New-Item -ItemType Directory -Path $scratch | Out-Null
    $modules = ($env:PSModulePath -split [IO.Path]::PathSeparator)[0]
    $saved = $false
    foreach ($repo in @(@{ Name = "TenantAttachNuGet"; Uri = $env:NUGET_SOURCE }, @{ Name = "PSGallery"; Uri = $null })) {
      try {
        if ($repo.Uri -and -not (Get-PSResourceRepository -Name $repo.Name -ErrorAction SilentlyContinue)) {
          Register-PSResourceRepository -Name $repo.Name -Uri $repo.Uri -Trusted
        }
        Save-PSResource -Name Pester -Version $version -Repository $repo.Name -Path $scratch -TrustRepository -SkipDependencyCheck
        $saved = $true; break
      } catch { Write-Host "install-deps: Pester from $($repo.Name): $($_.Exception.Message)" }
    }
    if (-not $saved) { throw "Pester $version could not be downloaded" }
    $psd1 = Get-ChildItem -Path $scratch -Recurse -Filter Pester.psd1 | Select-Object -First 1
    $target = Join-Path $modules "Pester/$version"
    New-Item -ItemType Directory -Force -Path $target | Out-Null
    Copy-Item -Path (Join-Path $psd1.DirectoryName "*") -Destination $target -Recurse -Force
    Remove-Item -Recurse -Force $scratch
    Import-Module Pester -RequiredVersion $version
    Write-Host "install-deps: Pester $((Get-Module Pester).Version) in $target"'
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
