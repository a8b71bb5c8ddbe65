<#
.SYNOPSIS
The site's tenant attach runbook: uploads the site's devices, then runs the device actions waiting. Schedule it every 15 minutes.
.DESCRIPTION
Unattended (Azure Automation hybrid worker, a scheduled task on the site server, cron on Linux): no
prompt, the site's app signs in with a PSCredential (client id as user name, client secret as
password). Each run:
1. connects, and stops with a clear error when the hierarchy is not onboarded (onboarding is done
   once, by a person: Register-TenantAttach);
2. uploads the devices: on a site server the inventory ConfigMgr has (Get-TenantAttachInventory:
   devices, the upload scope's collection membership, hardware inventory, distribution points,
   primary users); elsewhere an NDJSON export (-DevicesPath). The first run is a full sync, later
   runs upload what changed. A run the deletion guard stops (empty or wholly ineligible input, or more
   deletions than allowed) fails with TenantAttach.TA_STATUS_DELETION_REFUSED and sends nothing: look
   at the input, then run Sync-TenantAttachDevice -Force once by hand if the deletions are intended;
3. receives the device actions started in the admin center, checks who started them against the
   users of AD and Azure AD user discovery (Get-CMUser), runs the authorized ones through ConfigMgr
   (Invoke-CMClientAction) and reports each outcome.
The sync state lives in -StateDirectory, which must persist between runs (not a temporary folder):
it is what makes later runs deltas and lets an interrupted run (Ctrl+C, a stopped job, a crash)
converge on the next one. Stopping the runbook at any point is safe.
.EXAMPLE
./Invoke-TenantAttachRunbook.ps1 -Credential (Get-AutomationPSCredential -Name TenantAttachSite) -TenantId contoso.onmicrosoft.com `
    -SiteCode PS1 -HierarchyId 5f0c1a6e-2d3b-4c5d-8e9f-0a1b2c3d4e5f -StateDirectory D:\TenantAttach\State -LogDirectory D:\TenantAttach\Logs
.EXAMPLE
pwsh ./Invoke-TenantAttachRunbook.ps1 -Credential $app -TenantId contoso.onmicrosoft.com -SiteCode PS1 -HierarchyId $hierarchyId `
    -StateDirectory /var/lib/tenant-attach/state -DevicesPath /srv/exports/devices.ndjson
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [System.Management.Automation.PSCredential] $Credential,
    [Parameter(Mandatory)] [string] $TenantId,
    [Parameter(Mandatory)] [ValidatePattern('^[A-Za-z0-9]{3}$')] [string] $SiteCode,
    [Parameter(Mandatory)] [string] $HierarchyId,
    # Persistent: the sync state must survive between runs.
    [Parameter(Mandatory)] [string] $StateDirectory,
    [string] $LogDirectory,
    # An NDJSON export, where the ConfigMgr module is not available.
    [string] $DevicesPath,
    [ValidateSet('Both', 'Either')] [string] $UserDiscoveryRule = 'Both',
    [ValidateRange(0, 60)] [int] $ReceiveSeconds = 30,
    # For a local cloud or a proxy's own CA; the real Microsoft endpoints need neither.
    [hashtable] $Endpoint,
    [string] $TrustedCaFile
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
if (-not (Get-Module -Name TenantAttach)) {
    $beside = Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1'
    if (Get-Module -ListAvailable -Name TenantAttach) { Import-Module TenantAttach } else { Import-Module $beside }
}

$connect = @{ TenantId = $TenantId; SiteCode = $SiteCode; HierarchyId = $HierarchyId; Credential = $Credential
    StateDirectory = $StateDirectory; UserDiscoveryRule = $UserDiscoveryRule }
if ($LogDirectory) { $connect.LogDirectory = $LogDirectory }
if ($Endpoint) { $connect.Endpoint = $Endpoint }
if ($TrustedCaFile) { $connect.TrustedCaFile = $TrustedCaFile }
# On a site server: the ConfigMgr module (installed with the console) and its site drive, from which
# the ConfigMgr cmdlets run.
if (-not (Get-Module -Name ConfigurationManager) -and $env:SMS_ADMIN_UI_PATH) {
    $cmModule = Join-Path (Split-Path -Parent $env:SMS_ADMIN_UI_PATH) 'ConfigurationManager.psd1'
    if (Test-Path -LiteralPath $cmModule) { Import-Module $cmModule }
}
$onSiteDrive = $false
Connect-TenantAttach @connect
try {
    if ((Get-Module -Name ConfigurationManager) -and (Get-PSDrive -Name $SiteCode -PSProvider CMSite -ErrorAction SilentlyContinue)) {
        Push-Location -LiteralPath "$($SiteCode):\"
        $onSiteDrive = $true
    }
    $status = Get-TenantAttachStatus
    if (-not $status.Onboarded) {
        throw "Hierarchy $HierarchyId is not onboarded to tenant attach. Onboard it once as a Global Administrator (Connect-TenantAttach -DeviceCode, then Register-TenantAttach), then schedule this runbook."
    }

    # 1. Upload.
    $onSiteServer = [bool](Get-Command -Name Get-CMDevice -ErrorAction SilentlyContinue)
    $devices = @()
    if ($onSiteServer) {
        $inventory = @{ SiteCode = $SiteCode }
        if ($status.UploadScope -eq 'collection') { $inventory.CollectionId = $status.CollectionId }
        $devices = @(Get-TenantAttachInventory @inventory)
        $report = $devices | Sync-TenantAttachDevice -Confirm:$false
    }
    elseif ($DevicesPath) {
        $report = Sync-TenantAttachDevice -Path $DevicesPath -Confirm:$false
    }
    else {
        throw 'Nothing to upload: the ConfigMgr module is not loaded here (Get-CMDevice), and -DevicesPath names no export.'
    }
    Write-Output ('{0} sync: {1} uploaded, {2} deleted, {3} unchanged; next run at about {4}' -f $report.kind, $report.uploaded, $report.deleted, $report.unchanged, $report.nextRunTime)

    # 2. Device actions, checked against the site's discovered users and run through ConfigMgr.
    if ($onSiteServer -and (Get-Command -Name Invoke-CMClientAction -ErrorAction SilentlyContinue)) {
        $users = @(Get-CMUser)
        Receive-TenantAttachNotification -DiscoveredUser $users -TimeoutSeconds $ReceiveSeconds |
            Invoke-TenantAttachClientAction -Device $devices -Confirm:$false |
            ForEach-Object { Write-Output ('{0} on {1}: {2}' -f $_.Action, $_.DeviceName, $_.status) }
    }
    else {
        Write-Warning 'Device actions are not received here: running them needs the ConfigMgr module (Invoke-CMClientAction) on the site server.'
    }
}
finally {
    if ($onSiteDrive) { Pop-Location }
    Disconnect-TenantAttach
}
