function Register-TenantAttach {
    <#
    .SYNOPSIS
    Onboards the connected hierarchy to tenant attach.
    .DESCRIPTION
    As a Global Administrator (Connect-TenantAttach -DeviceCode), creates the Azure AD app, its
    secret and service principal, and registers the hierarchy with the ConfigMgr gateway; or imports
    an existing app. Registering an onboarded hierarchy again updates its settings instead of
    failing. The created app's secret is in the result once (ClientSecret, a SecureString) and is
    never stored by the module. Co-management automatic enrollment is off unless asked for.
    .EXAMPLE
    Register-TenantAttach -UploadScope All
    .EXAMPLE
    Register-TenantAttach -CollectionId PS100012 -ImportClientId $id -ImportClientSecret $secret -SecretExpiry 2027-06-30 -AppIdUri "api://$tenantId/ConfigMgrService"
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', DefaultParameterSetName = 'Create')]
    param(
        [ValidateSet('All', 'Collection')]
        [string] $UploadScope = 'All',
        [string] $CollectionId,
        [switch] $CoManagementAutoEnroll,
        [Parameter(ParameterSetName = 'Create')]
        [string] $AppName,
        [Parameter(ParameterSetName = 'Import', Mandatory)]
        [string] $ImportClientId,
        [Parameter(ParameterSetName = 'Import', Mandatory)]
        [System.Security.SecureString] $ImportClientSecret,
        [Parameter(ParameterSetName = 'Import', Mandatory)]
        [datetime] $SecretExpiry,
        [Parameter(ParameterSetName = 'Import', Mandatory)]
        [string] $AppIdUri
    )
    $session = Get-TenantAttachSession -Cmdlet $PSCmdlet
    if ($CollectionId) { $UploadScope = 'Collection' }
    $options = [ordered]@{ coManagementAutoEnroll = [bool]$CoManagementAutoEnroll }
    $options.uploadScope = if ($UploadScope -eq 'Collection') { @{ kind = 'collection'; collectionId = $CollectionId } } else { @{ kind = 'all' } }
    if ($AppName) { $options.appName = $AppName }
    if ($PSCmdlet.ParameterSetName -eq 'Import') {
        $options.import = @{
            clientId     = $ImportClientId
            clientSecret = (ConvertFrom-TenantAttachSecureString $ImportClientSecret)
            secretExpiry = $SecretExpiry.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
            appIdUri     = $AppIdUri
        }
    }
    if (-not $PSCmdlet.ShouldProcess('hierarchy of the connected site', "Onboard to tenant attach (scope: $UploadScope)")) { return }
    $json = $options | ConvertTo-Json -Depth 5 -Compress
    $result = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Call { $session.Register($json) }
    $json = $null
    $parsed = $result | ConvertFrom-Json
    $secret = $null
    if ($parsed.PSObject.Properties['createdApp'] -and $parsed.createdApp.clientSecret) {
        $secret = ConvertTo-SecureString -String $parsed.createdApp.clientSecret -AsPlainText -Force
    }
    [pscustomobject]@{
        PSTypeName           = 'TenantAttach.Registration'
        HierarchyId          = $parsed.onboarding.hierarchyId
        TenantId             = $parsed.onboarding.tenantId
        AppId                = $parsed.onboarding.appId
        AppIdUri             = $parsed.onboarding.appIdUri
        ServicePrincipalId   = if ($parsed.PSObject.Properties['createdApp']) { $parsed.createdApp.servicePrincipalId } else { $null }
        ClientSecret         = $secret
        UploadScope          = $parsed.onboarding.uploadScope.kind
        CollectionId         = $parsed.onboarding.uploadScope.collectionId
        CoManagementAutoEnroll = $parsed.onboarding.coManagementAutoEnroll
        AlreadyOnboarded     = $parsed.alreadyOnboarded
    }
}
