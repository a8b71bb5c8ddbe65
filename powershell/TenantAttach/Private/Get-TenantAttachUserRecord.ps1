# SMS_R_User records (discovery data: AgentName, SID, UniqueUserName, and where Azure AD user
# discovery found the user its object id and UPN) of the given ResourceIDs, from the SMS Provider of
# the connected site; none where WMI cannot be read here.
function Get-TenantAttachUserRecord {
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [uint32[]] $ResourceId
    )
    if (-not (Get-Command -Name Get-CimInstance -ErrorAction SilentlyContinue)) { return }
    $siteCode = Get-TenantAttachMember ((Get-TenantAttachSession -Cmdlet $Cmdlet).ConfigJson | ConvertFrom-Json) 'siteCode'
    if (-not $siteCode) { return }
    $wanted = @{}
    foreach ($id in $ResourceId) { $wanted[$id] = $true }
    try {
        foreach ($record in @(Get-CimInstance -Namespace "root/SMS/site_$siteCode" -ClassName SMS_R_User -ErrorAction Stop)) {
            $id = Get-TenantAttachMember $record 'ResourceID'
            if ($null -ne $id -and $wanted.ContainsKey([uint32]$id)) { $record }
        }
    }
    catch {
        Write-Warning "Could not read SMS_R_User from root/SMS/site_${siteCode}: $($_.Exception.Message)"
    }
}
