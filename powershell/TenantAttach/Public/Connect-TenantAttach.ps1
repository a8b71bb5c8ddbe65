function Connect-TenantAttach {
    <#
    .SYNOPSIS
    Opens a tenant attach session for a Configuration Manager hierarchy.
    .DESCRIPTION
    Builds the library configuration from the parameters, validates it, and keeps the session for the
    other TenantAttach commands. Credentials: a client secret (-ClientId with -ClientSecret, or a
    PSCredential whose user name is the client id, for runbooks), the device code flow for a person
    (-DeviceCode), or an access token obtained elsewhere (-AccessToken).
    -UserDiscoveryRule says which user discoveries must have found a user who starts a device
    action: Both (AD and Azure AD user discovery, ConfigMgr 2002's rule, the default) or Either
    (ConfigMgr 2103 and later).
    .EXAMPLE
    Connect-TenantAttach -TenantId contoso.onmicrosoft.com -SiteCode PS1 -Credential $appCredential -LogDirectory C:\Logs
    #>
    [CmdletBinding(DefaultParameterSetName = 'DeviceCode')]
    param(
        [string] $Cloud = 'AzurePublicCloud',
        [string] $TenantId,
        [ValidatePattern('^[A-Za-z0-9]{3}$')]
        [string] $SiteCode,
        [string] $HierarchyId,
        [Parameter(ParameterSetName = 'ClientSecret', Mandatory)]
        [string] $ClientId,
        [Parameter(ParameterSetName = 'ClientSecret', Mandatory)]
        [System.Security.SecureString] $ClientSecret,
        [Parameter(ParameterSetName = 'Credential', Mandatory)]
        [System.Management.Automation.PSCredential] $Credential,
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
