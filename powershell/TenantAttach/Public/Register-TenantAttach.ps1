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
    With -CertificatePath (a PFX with -CertificatePassword, or a PEM with its key), the created app
    gets that certificate instead of a secret (CertificateThumbprint in the result), and the site
    signs in with it (Connect-TenantAttach -CertificatePath). On an onboarded hierarchy it adds the
    certificate to the app in use: how a certificate is renewed before it expires.
    .EXAMPLE
    Register-TenantAttach -UploadScope All
    .EXAMPLE
    Register-TenantAttach -UploadScope All -CertificatePath C:\TenantAttach\runbook.pfx -CertificatePassword $password
    .EXAMPLE
    Register-TenantAttach -CollectionId PS100012 -ImportClientId $id -ImportClientSecret $secret -SecretExpiry 2027-06-30 -AppIdUri "api://$tenantId/ConfigMgrService"
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', DefaultParameterSetName = 'Create')]
    param(
        [ValidateSet('All', 'Collection')]
        [string] $UploadScope = 'All',
        [ValidatePattern('^[A-Za-z0-9]{3}[0-9A-Fa-f]{5}$')]
        [string] $CollectionId,
        [switch] $CoManagementAutoEnroll,
        [Parameter(ParameterSetName = 'Create')]
        [string] $AppName,
        [Parameter(ParameterSetName = 'Create')]
        [string] $CertificatePath,
        [Parameter(ParameterSetName = 'Create')]
        [System.Security.SecureString] $CertificatePassword,
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
    elseif ($UploadScope -eq 'Collection') {
        $exception = New-Object System.ArgumentException('-UploadScope Collection needs -CollectionId, the collection whose members are uploaded (for example PS100012).')
        $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.CollectionIdMissing', 'InvalidArgument', $null)))
    }
    $options = [ordered]@{ coManagementAutoEnroll = [bool]$CoManagementAutoEnroll }
    $options.uploadScope = if ($UploadScope -eq 'Collection') { @{ kind = 'collection'; collectionId = $CollectionId.ToUpperInvariant() } } else { @{ kind = 'all' } }
    if ($AppName) { $options.appName = $AppName }
    if ($CertificatePath) {
        $options.certificate = @{ certificateFile = (Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $CertificatePath -ParameterName CertificatePath -MustExist) }
        if ($CertificatePassword) { $options.certificate.certificatePassword = ConvertFrom-TenantAttachSecureString $CertificatePassword }
    }
    if ($PSCmdlet.ParameterSetName -eq 'Import') {
        $options.import = @{
            clientId     = $ImportClientId
            clientSecret = (ConvertFrom-TenantAttachSecureString $ImportClientSecret)
            secretExpiry = ConvertTo-TenantAttachTimestamp $SecretExpiry
            appIdUri     = $AppIdUri
        }
    }
    if (-not $PSCmdlet.ShouldProcess('hierarchy of the connected site', "Onboard to tenant attach (scope: $UploadScope)")) { return }
    $json = $options | ConvertTo-Json -Depth 5 -Compress
    $result = Invoke-TenantAttachNative -Cmdlet $PSCmdlet -Operation Register -Argument @($json) -Activity 'Onboarding the hierarchy to tenant attach'
    $json = $null
    $parsed = $result | ConvertFrom-Json
    $result = $null
    $secret = $null
    $plainSecret = Get-TenantAttachMember $parsed 'createdApp.clientSecret'
    if ($plainSecret) {
        $secret = ConvertTo-SecureString -String $plainSecret -AsPlainText -Force
        $plainSecret = $null
        $parsed.createdApp.clientSecret = $null
    }
    [pscustomobject]@{
        PSTypeName             = 'TenantAttach.Registration'
        HierarchyId            = Get-TenantAttachMember $parsed 'onboarding.hierarchyId'
        TenantId               = Get-TenantAttachMember $parsed 'onboarding.tenantId'
        AppId                  = Get-TenantAttachMember $parsed 'onboarding.appId'
        AppIdUri               = Get-TenantAttachMember $parsed 'onboarding.appIdUri'
        ServicePrincipalId     = Get-TenantAttachMember $parsed 'createdApp.servicePrincipalId'
        ClientSecret           = $secret
        CertificateThumbprint  = if (Get-TenantAttachMember $parsed 'certificate') { Get-TenantAttachMember $parsed 'certificate.certificateThumbprint' } else { Get-TenantAttachMember $parsed 'createdApp.certificateThumbprint' }
        UploadScope            = Get-TenantAttachMember $parsed 'onboarding.uploadScope.kind'
        CollectionId           = Get-TenantAttachMember $parsed 'onboarding.uploadScope.collectionId'
        CoManagementAutoEnroll = Get-TenantAttachMember $parsed 'onboarding.coManagementAutoEnroll'
        AlreadyOnboarded       = [bool](Get-TenantAttachMember $parsed 'alreadyOnboarded')
    }
}
