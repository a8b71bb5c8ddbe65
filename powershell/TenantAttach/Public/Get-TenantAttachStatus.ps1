function Get-TenantAttachStatus {
    <#
    .SYNOPSIS
    Onboarding state, tenant, app, upload scope, co-management flag, last sync and next run time.
    .EXAMPLE
    Get-TenantAttachStatus
    #>
    [CmdletBinding()]
    param()
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    $status = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Operation Status | ConvertFrom-Json
    $lastSyncTime = Get-TenantAttachMember $status 'local.lastSync.completedDateTime'
    $nextRunTime = Get-TenantAttachMember $status 'nextRunTime'
    [pscustomobject]@{
        PSTypeName             = 'TenantAttach.Status'
        Onboarded              = [bool](Get-TenantAttachMember $status 'onboarded')
        TenantId               = Get-TenantAttachMember $status 'onboarding.tenantId'
        AppId                  = Get-TenantAttachMember $status 'onboarding.appId'
        UploadScope            = Get-TenantAttachMember $status 'onboarding.uploadScope.kind'
        CollectionId           = Get-TenantAttachMember $status 'onboarding.uploadScope.collectionId'
        CoManagementAutoEnroll = Get-TenantAttachMember $status 'onboarding.coManagementAutoEnroll'
        LastSyncKind           = Get-TenantAttachMember $status 'local.lastSync.kind'
        LastSyncTime           = if ($lastSyncTime) { ConvertFrom-TenantAttachTimestamp $lastSyncTime } else { $null }
        LastSyncUploaded       = Get-TenantAttachMember $status 'local.lastSync.uploaded'
        DevicesInCloud         = Get-TenantAttachMember $status 'local.devices'
        NextRunTime            = if ($nextRunTime) { ConvertFrom-TenantAttachTimestamp $nextRunTime } else { $null }
    }
}
