# Pester 5: a runbook signs in with a certificate (Connect-TenantAttach -CertificatePath,
# -Certificate, -CertificateThumbprint) against the test cloud (TENANT_ATTACH_LIBRARY, TA_CLOUD_URL
# and TA_CLOUD_CA, set by scripts/test.sh). The certificates are made here with .NET, as an
# administrator would make one (New-SelfSignedCertificate on Windows), and registered on an app of
# the cloud through its seed API.
Set-StrictMode -Version Latest

BeforeAll {
    Set-StrictMode -Version Latest
    Import-Module (Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1') -Force
    $script:AppId = 'e0000000-0000-4000-8000-00000000ce05'
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('ta-cert-' + [guid]::NewGuid())
    New-Item -ItemType Directory -Path $script:Work | Out-Null
    $script:PasswordText = 'Pester-pfx.Passw0rd'
    $script:Password = ConvertTo-SecureString $script:PasswordText -AsPlainText -Force
    $script:Common = @{
        TenantId      = 'contoso.onmicrosoft.com'
        SiteCode      = 'PS1'
        Endpoint      = @{ authority = $env:TA_CLOUD_URL; graph = $env:TA_CLOUD_URL; gateway = $env:TA_CLOUD_URL }
        TrustedCaFile = $env:TA_CLOUD_CA
    }

    function script:New-TestCertificate {
        param([string] $Subject, [int] $ValidDays = 30)
        $rsa = [System.Security.Cryptography.RSA]::Create(2048)
        $request = New-Object System.Security.Cryptography.X509Certificates.CertificateRequest($Subject, $rsa,
            [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
        $now = [DateTimeOffset]::UtcNow
        if ($ValidDays -lt 0) {
            return $request.CreateSelfSigned($now.AddDays($ValidDays - 30), $now.AddDays($ValidDays))
        }
        return $request.CreateSelfSigned($now.AddHours(-1), $now.AddDays($ValidDays))
    }

    function script:Save-Pfx {
        param($Certificate, [string] $Name)
        $path = Join-Path $script:Work $Name
        [System.IO.File]::WriteAllBytes($path, $Certificate.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pkcs12, $script:PasswordText))
        return $path
    }

    # Registers the certificates on the test app (its keyCredentials), replacing the app.
    function script:Register-TestCertificate {
        param([object[]] $Certificate)
        $pems = @($Certificate | ForEach-Object {
                @{ pem = "-----BEGIN CERTIFICATE-----`n" + [Convert]::ToBase64String($_.RawData) + "`n-----END CERTIFICATE-----`n" }
            })
        $seed = @{ apps = @(@{ appId = $script:AppId; tenantId = 'c0ffee00-0000-4000-8000-000000000001'; displayName = 'Pester certificate runbook'
                    grantedRoles = @('DeviceManagementManagedDevices.Read.All'); certificates = $pems })
        } | ConvertTo-Json -Depth 6
        $file = Join-Path $script:Work 'seed.json'
        Set-Content -LiteralPath $file -Value $seed -Encoding utf8
        $status = & curl -s -o /dev/null -w '%{http_code}' --cacert $env:TA_CLOUD_CA -X POST -H 'content-type: application/json' --data-binary "@$file" "$($env:TA_CLOUD_URL)/_admin/seed"
        $status | Should -Be '204'
    }

    $script:Registered = New-TestCertificate -Subject 'CN=Pester runbook'
    $script:Stranger = New-TestCertificate -Subject 'CN=Pester stranger'
    Register-TestCertificate -Certificate $script:Registered
    $script:RegisteredPfx = Save-Pfx -Certificate $script:Registered -Name 'runbook.pfx'
}

AfterAll {
    Disconnect-TenantAttach
    Remove-Item -Recurse -Force -LiteralPath $script:Work -ErrorAction SilentlyContinue
}

Describe 'Connect-TenantAttach with a certificate' {
    It 'signs in with a PFX file and its password, as a runbook does' {
        $session = Connect-TenantAttach @Common -ClientId $AppId -CertificatePath $RegisteredPfx -CertificatePassword $Password -PassThru
        $session.AuthKind | Should -Be 'clientCertificate'
        { Get-TenantAttachDevice -Name 'CERT-TEST-*' -ErrorAction Stop } | Should -Not -Throw
    }

    It 'signs in with an X509Certificate2 that has its private key (Get-AutomationCertificate)' {
        Connect-TenantAttach @Common -ClientId $AppId -Certificate $Registered
        { Get-TenantAttachDevice -Name 'CERT-TEST-*' -ErrorAction Stop } | Should -Not -Throw
    }

    It 'finds a certificate by thumbprint in the personal store' {
        $store = New-Object System.Security.Cryptography.X509Certificates.X509Store('My', 'CurrentUser')
        $store.Open([System.Security.Cryptography.X509Certificates.OpenFlags]::ReadWrite)
        $stored = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2((Get-Item -LiteralPath $RegisteredPfx).FullName, $PasswordText,
            ([System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::Exportable -bor [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::PersistKeySet))
        $store.Add($stored)
        try {
            Connect-TenantAttach @Common -ClientId $AppId -CertificateThumbprint $Registered.Thumbprint
            { Get-TenantAttachDevice -Name 'CERT-TEST-*' -ErrorAction Stop } | Should -Not -Throw
        }
        finally {
            $store.Remove($stored)
            $store.Dispose()
        }
        { Connect-TenantAttach @Common -ClientId $AppId -CertificateThumbprint $Stranger.Thumbprint } |
            Should -Throw -ErrorId 'TenantAttach.CertificateNotFound*'
    }

    It 'refuses a wrong password, a missing file and an expired certificate when connecting' {
        $wrong = ConvertTo-SecureString 'not-the-password' -AsPlainText -Force
        { Connect-TenantAttach @Common -ClientId $AppId -CertificatePath $RegisteredPfx -CertificatePassword $wrong } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_INVALID_CONFIG*' -ExpectedMessage '*password does not open*'
        { Connect-TenantAttach @Common -ClientId $AppId -CertificatePath (Join-Path $Work 'missing.pfx') -CertificatePassword $Password } |
            Should -Throw -ErrorId 'TenantAttach.PathNotFound*'
        $expired = Save-Pfx -Certificate (New-TestCertificate -Subject 'CN=Pester expired' -ValidDays -1) -Name 'expired.pfx'
        { Connect-TenantAttach @Common -ClientId $AppId -CertificatePath $expired -CertificatePassword $Password } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_EXPIRED*' -ExpectedMessage '*expired on*'
    }

    It 'gets Azure AD''s AADSTS700027 for a certificate the app does not have' {
        Connect-TenantAttach @Common -ClientId $AppId -CertificatePath (Save-Pfx -Certificate $Stranger -Name 'stranger.pfx') -CertificatePassword $Password
        $failure = $null
        try { Get-TenantAttachDevice -Name 'CERT-TEST-*' -ErrorAction Stop } catch { $failure = $_ }
        $failure | Should -Not -BeNullOrEmpty
        $failure.FullyQualifiedErrorId | Should -BeLike 'TenantAttach.TA_STATUS_AUTH_FAILED*'
        $failure.Exception.Message | Should -BeLike '*AADSTS700027*'
    }

    It 'never writes the PFX password or the key to the log, the state or the session' {
        $logs = Join-Path $Work 'logs'
        $state = Join-Path $Work 'state'
        $session = Connect-TenantAttach @Common -ClientId $AppId -CertificatePath $RegisteredPfx -CertificatePassword $Password `
            -LogDirectory $logs -StateDirectory $state -PassThru
        Get-TenantAttachDevice -Name 'CERT-TEST-*' | Out-Null
        $wrong = ConvertTo-SecureString 'Wrong-pfx.Passw0rd-123' -AsPlainText -Force
        $failure = $null
        try { Connect-TenantAttach @Common -ClientId $AppId -CertificatePath $RegisteredPfx -CertificatePassword $wrong -LogDirectory $logs } catch { $failure = $_ }
        $written = (Get-ChildItem -Recurse -File -LiteralPath $logs, $state | ForEach-Object { Get-Content -Raw -LiteralPath $_.FullName }) -join "`n"
        $written | Should -Match 'auth=clientCertificate'
        $key = [Convert]::ToBase64String($Registered.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pkcs12, $PasswordText)).Substring(0, 40)
        foreach ($text in @($written, ($session | ConvertTo-Json), "$failure")) {
            $text | Should -Not -Match ([regex]::Escape($PasswordText))
            $text | Should -Not -Match 'Wrong-pfx'
            $text | Should -Not -Match ([regex]::Escape($key))
        }
    }

    It 'onboards a hierarchy with the certificate instead of a secret, then signs in with it' {
        $hierarchy = '5bc3e7d2-5d6c-4a2f-9f1e-0a2b3c4d5c0e'
        $onboarding = New-TestCertificate -Subject 'CN=Pester onboarded runbook'
        $pfx = Save-Pfx -Certificate $onboarding -Name 'onboarding.pfx'
        # A Global Administrator (this public client's device codes are approved as admin by scripts/test.sh).
        Connect-TenantAttach @Common -HierarchyId $hierarchy -DeviceCode -PublicClientId 'c1000000-0000-4000-8000-000000000001'
        $registration = Register-TenantAttach -UploadScope All -CertificatePath $pfx -CertificatePassword $Password -Confirm:$false
        $registration.CertificateThumbprint | Should -Be $onboarding.Thumbprint
        $registration.ClientSecret | Should -BeNullOrEmpty
        Connect-TenantAttach @Common -HierarchyId $hierarchy -ClientId $registration.AppId -CertificatePath $pfx -CertificatePassword $Password
        (Get-TenantAttachStatus).Onboarded | Should -BeTrue
    }
}
