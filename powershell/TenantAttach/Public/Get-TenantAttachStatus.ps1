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
    $status = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Call { $session.Status() } | ConvertFrom-Json
    $onboarding = $status.onboarding
    $last = if ($status.local) { $status.local.lastSync } else { $null }
    [pscustomobject]@{
        PSTypeName             = 'TenantAttach.Status'
        Onboarded              = $status.onboarded
        TenantId               = if ($onboarding) { $onboarding.tenantId } else { $null }
        AppId                  = if ($onboarding) { $onboarding.appId } else { $null }
        UploadScope            = if ($onboarding) { $onboarding.uploadScope.kind } else { $null }
        CollectionId           = if ($onboarding) { $onboarding.uploadScope.collectionId } else { $null }
        CoManagementAutoEnroll = if ($onboarding) { $onboarding.coManagementAutoEnroll } else { $null }
        LastSyncKind           = if ($last) { $last.kind } else { $null }
        LastSyncTime           = if ($last) { [datetime]$last.completedDateTime } else { $null }
        LastSyncUploaded       = if ($last) { $last.uploaded } else { $null }
        DevicesInCloud         = if ($status.local) { $status.local.devices } else { $null }
        NextRunTime            = if ($status.nextRunTime) { [datetime]$status.nextRunTime } else { $null }
    }
}
