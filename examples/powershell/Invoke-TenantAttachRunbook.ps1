<#
.SYNOPSIS
The end-to-end scenario as an Azure Automation / scheduled-task runbook: no prompt, a PSCredential.
.DESCRIPTION
Connects as the site's app, makes sure the hierarchy is onboarded (importing the app), uploads the
site's devices (Get-CMDevice when the ConfigMgr module is loaded, else an NDJSON export), runs Sync
machine policy on the kiosks as an operator, and runs one pass of the notification worker.
.EXAMPLE
./Invoke-TenantAttachRunbook.ps1 -Credential (Get-AutomationPSCredential -Name TenantAttachSite) -DevicesPath D:\Exports\devices.ndjson
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [System.Management.Automation.PSCredential] $Credential,
    [string] $TenantId = 'contoso.onmicrosoft.com',
    [string] $SiteCode = 'PS1',
    [Parameter(Mandatory)] [string] $HierarchyId,
    [datetime] $SecretExpiry = (Get-Date).AddYears(1),
    [string] $AppIdUri = 'api://c0ffee00-0000-4000-8000-000000000001/ConfigMgrService',
    [string] $DevicesPath,
    [psobject[]] $DiscoveredUser = @(),
    [hashtable] $Endpoint,
    [string] $TrustedCaFile
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1')

$connect = @{ TenantId = $TenantId; SiteCode = $SiteCode; HierarchyId = $HierarchyId; Credential = $Credential
    StateDirectory = (Join-Path $env:TEMP 'TenantAttach/State'); LogDirectory = (Join-Path $env:TEMP 'TenantAttach/Logs') }
if ($Endpoint) { $connect.Endpoint = $Endpoint }
if ($TrustedCaFile) { $connect.TrustedCaFile = $TrustedCaFile }
Connect-TenantAttach @connect

if (-not (Get-TenantAttachStatus).Onboarded) {
    Register-TenantAttach -ImportClientId $Credential.UserName -ImportClientSecret $Credential.Password -SecretExpiry $SecretExpiry -AppIdUri $AppIdUri -Confirm:$false | Out-Null
}

if (Get-Command Get-CMDevice -ErrorAction SilentlyContinue) {
    $report = Get-CMDevice -CollectionId SMS00001 | Sync-TenantAttachDevice
}
else {
    $report = Sync-TenantAttachDevice -Path $DevicesPath
}
Write-Output ("{0} sync: {1} uploaded, {2} deleted, {3} unchanged, next run {4}" -f $report.kind, $report.uploaded, $report.deleted, $report.unchanged, $report.nextRunTime)

Get-TenantAttachDevice -Name 'KIOSK-*' | Invoke-TenantAttachDeviceAction -Action SyncMachinePolicy | Format-Table -Property @('managedDeviceId', 'result')

Receive-TenantAttachNotification -DiscoveredUser $DiscoveredUser -TimeoutSeconds 30 |
    Where-Object decision -eq 'authorized' |
    Complete-TenantAttachNotification -Succeeded -Confirm:$false
