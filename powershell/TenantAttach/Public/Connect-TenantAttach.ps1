function Connect-TenantAttach {
    <#
    .SYNOPSIS
    Opens a tenant attach session for a Configuration Manager hierarchy.
    .DESCRIPTION
    Builds the library configuration from the parameters, validates it, and keeps the session for the
    other TenantAttach commands. Credentials: a client secret (-ClientId with -ClientSecret, or a
    PSCredential whose user name is the client id, for runbooks), a certificate (-ClientId with
    -CertificatePath and, for a PFX, -CertificatePassword; or -Certificate, an X509Certificate2 with
    its private key such as Get-AutomationCertificate returns; or, on Windows, -CertificateThumbprint
    of a certificate in Cert:\CurrentUser\My or Cert:\LocalMachine\My), the device code flow for a
    person (-DeviceCode), or an access token obtained elsewhere (-AccessToken).
    The certificate is read and checked here: a missing file, a wrong password, a key that is not
    RSA or not the certificate's, or an expired certificate stops Connect-TenantAttach with an
    error saying what to do. Neither the password nor the key is written anywhere.
    -UserDiscoveryRule says which user discoveries must have found a user who starts a device
    action: Both (AD and Azure AD user discovery, ConfigMgr 2002's rule, the default) or Either
    (ConfigMgr 2103 and later).
    .EXAMPLE
    Connect-TenantAttach -TenantId contoso.onmicrosoft.com -SiteCode PS1 -Credential $appCredential -LogDirectory C:\Logs
    .EXAMPLE
    $password = Read-Host -AsSecureString 'PFX password'
    Connect-TenantAttach -TenantId contoso.onmicrosoft.com -SiteCode PS1 -ClientId $appId -CertificatePath C:\TenantAttach\runbook.pfx -CertificatePassword $password
    .EXAMPLE
    Connect-TenantAttach -TenantId contoso.onmicrosoft.com -SiteCode PS1 -ClientId $appId -Certificate (Get-AutomationCertificate -Name TenantAttach)
    #>
    [CmdletBinding(DefaultParameterSetName = 'DeviceCode')]
    param(
        [string] $Cloud = 'AzurePublicCloud',
        [string] $TenantId,
        [ValidatePattern('^[A-Za-z0-9]{3}$')]
        [string] $SiteCode,
        [string] $HierarchyId,
        [Parameter(ParameterSetName = 'ClientSecret', Mandatory)]
        [Parameter(ParameterSetName = 'CertificateFile', Mandatory)]
        [Parameter(ParameterSetName = 'Certificate', Mandatory)]
        [Parameter(ParameterSetName = 'CertificateThumbprint', Mandatory)]
        [string] $ClientId,
        [Parameter(ParameterSetName = 'ClientSecret', Mandatory)]
        [System.Security.SecureString] $ClientSecret,
        [Parameter(ParameterSetName = 'Credential', Mandatory)]
        [System.Management.Automation.PSCredential] $Credential,
        [Parameter(ParameterSetName = 'CertificateFile', Mandatory)]
        [string] $CertificatePath,
        [Parameter(ParameterSetName = 'CertificateFile')]
        [System.Security.SecureString] $CertificatePassword,
        [Parameter(ParameterSetName = 'CertificateFile')]
        [string] $PrivateKeyPath,
        [Parameter(ParameterSetName = 'Certificate', Mandatory)]
        [System.Security.Cryptography.X509Certificates.X509Certificate2] $Certificate,
        [Parameter(ParameterSetName = 'CertificateThumbprint', Mandatory)]
        [ValidatePattern('^[0-9A-Fa-f]{40}$')]
        [string] $CertificateThumbprint,
        [Parameter(ParameterSetName = 'DeviceCode')]
        [switch] $DeviceCode,
        [Parameter(ParameterSetName = 'DeviceCode')]
        [string] $PublicClientId,
        [Parameter(ParameterSetName = 'AccessToken', Mandatory)]
        [System.Security.SecureString] $AccessToken,
        [hashtable] $Endpoint,
        [string] $Proxy,
        [string] $TrustedCaFile,
        [string] $StateDirectory,
        [string] $LogDirectory,
        [ValidateSet('Both', 'Either')]
        [string] $UserDiscoveryRule,
        [switch] $PassThru
    )

    $config = [ordered]@{ cloud = $Cloud }
    if ($TenantId) { $config.tenantId = $TenantId }
    if ($SiteCode) { $config.siteCode = $SiteCode.ToUpperInvariant() }
    if ($HierarchyId) { $config.hierarchyId = $HierarchyId }
    if ($Endpoint) { $config.endpoints = ConvertTo-TenantAttachEndpointSet -Cmdlet $PSCmdlet -Endpoint $Endpoint }
    if ($Proxy) { $config.proxy = $Proxy }
    if ($UserDiscoveryRule) { $config.userDiscovery = $UserDiscoveryRule.ToLowerInvariant() }
    if ($TrustedCaFile) { $config.trustedCaFile = Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $TrustedCaFile -ParameterName TrustedCaFile -MustExist }
    if ($StateDirectory) { $config.stateDir = Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $StateDirectory -ParameterName StateDirectory }
    if ($LogDirectory) { $config.logDir = Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $LogDirectory -ParameterName LogDirectory }
    switch ($PSCmdlet.ParameterSetName) {
        'ClientSecret' {
            $config.auth = @{ kind = 'clientSecret'; clientId = $ClientId; clientSecret = (ConvertFrom-TenantAttachSecureString $ClientSecret) }
        }
        'Credential' {
            $config.auth = @{ kind = 'clientSecret'; clientId = $Credential.UserName; clientSecret = $Credential.GetNetworkCredential().Password }
        }
        'AccessToken' {
            $config.auth = @{ kind = 'accessToken'; accessToken = (ConvertFrom-TenantAttachSecureString $AccessToken) }
        }
        'CertificateFile' {
            $config.auth = @{ kind = 'clientCertificate'; clientId = $ClientId
                certificateFile = (Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $CertificatePath -ParameterName CertificatePath -MustExist) }
            if ($CertificatePassword) { $config.auth.certificatePassword = ConvertFrom-TenantAttachSecureString $CertificatePassword }
            if ($PrivateKeyPath) { $config.auth.privateKeyFile = Resolve-TenantAttachFilePath -Cmdlet $PSCmdlet -Path $PrivateKeyPath -ParameterName PrivateKeyPath -MustExist }
        }
        'Certificate' {
            $config.auth = ConvertTo-TenantAttachCertificateAuth -Cmdlet $PSCmdlet -ClientId $ClientId -Certificate $Certificate
        }
        'CertificateThumbprint' {
            $found = Find-TenantAttachStoreCertificate -Cmdlet $PSCmdlet -Thumbprint $CertificateThumbprint
            $config.auth = ConvertTo-TenantAttachCertificateAuth -Cmdlet $PSCmdlet -ClientId $ClientId -Certificate $found
        }
        default {
            $config.auth = @{ kind = 'deviceCode' }
            if ($PublicClientId) { $config.auth.clientId = $PublicClientId }
        }
    }

    $json = $config | ConvertTo-Json -Depth 6 -Compress
    try {
        $client = [TenantAttach.Interop.TenantAttachClient]::Open($json)
    }
    catch [TenantAttach.Interop.TenantAttachException] {
        $PSCmdlet.ThrowTerminatingError((New-TenantAttachErrorRecord -Exception $_.Exception -Target $TenantId))
    }
    finally {
        $json = $null
        $config = $null
    }
    # The device code sign-in's instructions are shown by the command that first needs a token
    # (Invoke-TenantAttachNative), from PowerShell's own thread.
    if ($script:TenantAttachSession) {
        $script:TenantAttachSession.Dispose()
    }
    $script:TenantAttachSession = $client
    $effective = $client.ConfigJson | ConvertFrom-Json
    $session = [pscustomobject]@{
        PSTypeName  = 'TenantAttach.Session'
        Cloud       = Get-TenantAttachMember $effective 'cloud'
        TenantId    = Get-TenantAttachMember $effective 'tenantId'
        SiteCode    = Get-TenantAttachMember $effective 'siteCode'
        HierarchyId = Get-TenantAttachMember $effective 'hierarchyId'
        AuthKind    = Get-TenantAttachMember $effective 'auth.kind'
        StateDir    = Get-TenantAttachMember $effective 'stateDir'
        LogDir      = Get-TenantAttachMember $effective 'logDir'
        UserDiscoveryRule = Get-TenantAttachMember $effective 'userDiscovery'
        Version     = [TenantAttach.Interop.TenantAttachClient]::Version
    }
    Write-Verbose ("Connected: tenant {0}, site {1}, library {2}" -f $session.TenantId, $session.SiteCode, $session.Version)
    if ($PassThru) {
        return $session
    }
}
