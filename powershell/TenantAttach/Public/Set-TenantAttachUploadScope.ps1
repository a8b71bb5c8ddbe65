function Set-TenantAttachUploadScope {
    <#
    .SYNOPSIS
    Uploads all devices, or one collection's (with its child collections); the "edit co-management properties" path.
    .DESCRIPTION
    A scope change makes the next Sync-TenantAttachDevice a full sync.
    .EXAMPLE
    Set-TenantAttachUploadScope -CollectionId PS100012
    .EXAMPLE
    Set-TenantAttachUploadScope -All -CoManagementAutoEnroll $false
    #>
    [CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'All')]
    param(
        [Parameter(ParameterSetName = 'All', Mandatory)]
        [switch] $All,
        [Parameter(ParameterSetName = 'Collection', Mandatory)]
        [string] $CollectionId,
        [Nullable[bool]] $CoManagementAutoEnroll
    )
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    $settings = @{}
    $settings.uploadScope = if ($PSCmdlet.ParameterSetName -eq 'Collection') { @{ kind = 'collection'; collectionId = $CollectionId } } else { @{ kind = 'all' } }
    if ($null -ne $CoManagementAutoEnroll) { $settings.coManagementAutoEnroll = [bool]$CoManagementAutoEnroll }
    $what = if ($CollectionId) { "collection $CollectionId" } else { 'all devices' }
    if ($PSCmdlet.ShouldProcess('hierarchy of the connected site', "Set the upload scope to $what")) {
        $json = $settings | ConvertTo-Json -Depth 4 -Compress
        $record = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Call { $session.SetUploadSettings($json) }
        ConvertFrom-TenantAttachJson -Json $record -TypeName 'TenantAttach.Onboarding'
    }
}
