# A discovered user as the library takes it ({aadUserId, userPrincipalName, sid, adDiscovered,
# azureAdDiscovered}) from what a site server has: Get-CMUser objects (SMS_CombinedUserResources),
# SMS_R_User records, or plain objects with AdDiscovered/AzureAdDiscovered flags.
#
# The discovery agents are SMS_R_User's AgentName list. Microsoft documents neither the agent names
# of the two user discoveries nor the property holding the Azure AD object id, so the common
# spellings are accepted: an agent name containing AZUREAD or AAD is Azure AD user discovery, one
# containing AD_USER (and not those) is AD user discovery; the object id is AADUserID,
# AzureADUserID, AADObjectID or AadUserId. Nothing is guessed: a user with no identity is skipped.
function ConvertTo-TenantAttachDiscoveredUser {
    param([AllowNull()] [object] $User)
    if ($null -eq $User) { return $null }
    $first = {
        param([string[]] $names)
        foreach ($n in $names) {
            $v = Get-TenantAttachMember $User $n
            if ($null -ne $v -and [string]$v -ne '') { return [string]$v }
        }
        return $null
    }
    $aad = & $first @('AADUserID', 'AzureADUserID', 'AADObjectID', 'AadUserId')
    $upn = & $first @('UserPrincipalName', 'UPN')
    $sid = & $first @('SID', 'Sid', 'SecurityIdentifier')
    if (-not ($aad -or $upn -or $sid)) { return $null }

    # A flag is yes only as a true Boolean or the text True/Yes/1 (Import-Csv gives text: 'False'
    # must stay no; PowerShell's -in would compare $true with any non-empty text as equal).
    $isYes = {
        param($v)
        if ($v -is [bool]) { return $v }
        if ($null -eq $v) { return $false }
        return ([string]$v).Trim() -in @('True', 'Yes', '1')
    }
    $ad = & $isYes (Get-TenantAttachMember $User 'AdDiscovered')
    $azure = & $isYes (Get-TenantAttachMember $User 'AzureAdDiscovered')
    foreach ($agent in @(Get-TenantAttachMember $User 'AgentName')) {
        if ($null -eq $agent) { continue }
        $name = ([string]$agent).ToUpperInvariant()
        if ($name.Contains('AZUREAD') -or $name.Contains('AAD')) { $azure = $true }
        elseif ($name.Contains('AD_USER') -or $name.Contains('ACTIVE DIRECTORY USER')) { $ad = $true }
    }
    $out = @{ adDiscovered = [bool]$ad; azureAdDiscovered = [bool]$azure }
    if ($aad) { $out.aadUserId = $aad }
    if ($upn) { $out.userPrincipalName = $upn }
    if ($sid) { $out.sid = $sid }
    return $out
}
