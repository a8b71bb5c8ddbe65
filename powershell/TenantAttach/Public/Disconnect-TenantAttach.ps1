function Disconnect-TenantAttach {
    <#
    .SYNOPSIS
    Closes the tenant attach session opened by Connect-TenantAttach.
    #>
    [CmdletBinding()]
    param()
    if ($script:TenantAttachSession) {
        $script:TenantAttachSession.Dispose()
        $script:TenantAttachSession = $null
    }
}
