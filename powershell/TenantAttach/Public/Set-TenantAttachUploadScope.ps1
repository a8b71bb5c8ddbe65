function Set-TenantAttachUploadScope {
    <#
    .SYNOPSIS
    Uploads all devices, or one collection's (with its child collections); the "edit co-management properties" path.
    .DESCRIPTION
    A scope change makes the next Sync-TenantAttachDevice a full sync.
    .EXAMPLE
    Set-TenantAttachUploadScope -CollectionId PS100012
    .EXAMPLE
    Set-TenantAttachUploadScope -All
    .EXAMPLE
    Set-TenantAttachUploadScope -CoManagementAutoEnroll $false

    Changes only the co-management flag; the upload scope stays as it is.
    #>
    [CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'KeepScope')]
    param(
        [Parameter(ParameterSetName = 'All', Mandatory)]
        [switch] $All,
        [Parameter(ParameterSetName = 'Collection', Mandatory)]
        [ValidatePattern('^[A-Za-z0-9]{3}[0-9A-Fa-f]{5}$')]
        [string] $CollectionId,
        [Parameter(ParameterSetName = 'All')]
        [Parameter(ParameterSetName = 'Collection')]
        [Parameter(ParameterSetName = 'KeepScope', Mandatory)]
        [Nullable[bool]] $CoManagementAutoEnroll
    )
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    $settings = @{}
    $what = @()
    switch ($PSCmdlet.ParameterSetName) {
        'Collection' { $settings.uploadScope = @{ kind = 'collection'; collectionId = $CollectionId.ToUpperInvariant() }; $what += "set the upload scope to collection $($CollectionId.ToUpperInvariant())" }
        'All' { $settings.uploadScope = @{ kind = 'all' }; $what += 'set the upload scope to all devices' }
    }
    if ($null -ne $CoManagementAutoEnroll) {
        $settings.coManagementAutoEnroll = [bool]$CoManagementAutoEnroll
        $what += "turn co-management automatic enrollment $(if ($CoManagementAutoEnroll) { 'on' } else { 'off' })"
    }
    if ($PSCmdlet.ShouldProcess('hierarchy of the connected site', ($what -join ' and '))) {
        $json = $settings | ConvertTo-Json -Depth 4 -Compress
        $record = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Operation SetUploadSettings -Argument $json
        ConvertFrom-TenantAttachJson -Json $record -TypeName 'TenantAttach.Onboarding'
    }
}
