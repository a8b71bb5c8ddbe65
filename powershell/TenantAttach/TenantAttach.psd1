@{
    RootModule           = 'TenantAttach.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '3d5c7c3e-5a8e-4d1c-9a57-2f1f4c6a9b10'
    Author               = 'tenant-attach developers'
    CompanyName          = 'tenant-attach developers'
    Copyright            = '(c) tenant-attach developers. MIT License.'
    Description          = 'Drive Configuration Manager tenant attach from scripts: onboard a hierarchy, upload its devices, run device actions.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    FunctionsToExport    = @(
        'Connect-TenantAttach', 'Disconnect-TenantAttach', 'Register-TenantAttach', 'Unregister-TenantAttach',
        'Set-TenantAttachUploadScope', 'Get-TenantAttachStatus', 'Get-TenantAttachInventory', 'Sync-TenantAttachDevice', 'Get-TenantAttachDevice',
        'Invoke-TenantAttachDeviceAction', 'Invoke-TenantAttachClientAction', 'Receive-TenantAttachNotification', 'Complete-TenantAttachNotification',
        'Test-TenantAttachEndpoint'
    )
    FormatsToProcess     = @('TenantAttach.Format.ps1xml')
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('ConfigMgr', 'MEMCM', 'TenantAttach', 'Intune', 'Windows', 'Linux', 'PSEdition_Desktop', 'PSEdition_Core')
            ProjectUri   = 'https://example.invalid/tenant-attach'
            LicenseUri   = 'https://example.invalid/tenant-attach/blob/main/LICENSE'
            ReleaseNotes = 'https://example.invalid/tenant-attach/blob/main/CHANGELOG.md'
        }
    }
}
