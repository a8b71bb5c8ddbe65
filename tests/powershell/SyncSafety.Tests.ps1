# Pester 5 tests of an administrator's bad days with Sync-TenantAttachDevice: a wiped or damaged
# state folder, a second server, a record that turned bad, a pipeline that fails half way, a first
# run that was partial. Whatever happens, a device that still exists in ConfigMgr stays in the admin
# center. Against the real library and a test cloud (TENANT_ATTACH_LIBRARY, TA_CLOUD_URL, TA_CLOUD_CA
# from scripts/test.sh), the cloud read back through Graph (Get-TenantAttachDevice).
Set-StrictMode -Version Latest

BeforeAll {
    Set-StrictMode -Version Latest
    Import-Module (Join-Path $PSScriptRoot '../../powershell/TenantAttach/TenantAttach.psd1') -Force
    $script:local = @{
        Endpoint      = @{ authority = $env:TA_CLOUD_URL; graph = $env:TA_CLOUD_URL; gateway = $env:TA_CLOUD_URL }
        TrustedCaFile = $env:TA_CLOUD_CA
    }
    $script:hierarchyId = [guid]::NewGuid().ToString()
    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ('ta-safety-' + [guid]::NewGuid())
    $script:tenant = 'contoso.onmicrosoft.com'
    # 100 devices as Get-CMDevice emits them.
    $script:fleet = foreach ($i in 1..100) {
        [pscustomobject]@{
            PSTypeName = 'IResultObject#SMS_CombinedDeviceResources'
            Name = ('SAFE-PC-{0:D3}' -f $i); ResourceID = [uint32](16780000 + $i); SMSID = ('GUID:{0:D8}-5AFE-4000-8000-000000000000' -f $i)
            IsClient = $true; IsObsolete = $false; DeviceOS = 'Microsoft Windows NT Workstation 10.0'; ClientVersion = '5.00.9128.1000'; SiteCode = 'PS1'
        }
    }

    function Connect-Admin([int] $n) {
        Connect-TenantAttach -TenantId $script:tenant -SiteCode PS1 -HierarchyId $script:hierarchyId -DeviceCode `
            -PublicClientId "c1000000-0000-4000-8000-00000000000$n" -StateDirectory (Join-Path $script:work 'Admin') @script:local 6>$null
    }
    # The site server; -Server names its state folder (another server has another one).
    function Connect-Site([string] $Server = 'PRIMARY') {
        Connect-TenantAttach -TenantId $script:tenant -SiteCode PS1 -HierarchyId $script:hierarchyId -Credential $script:app `
            -StateDirectory (Join-Path $script:work "$Server/State") -LogDirectory (Join-Path $script:work "$Server/Logs") @script:local
    }
    function Get-CloudName {
        Connect-Admin 2
        @(Get-TenantAttachDevice -Name 'SAFE-PC-*' | ForEach-Object { $_.deviceName } | Sort-Object)
    }
    $script:everyName = @($script:fleet | ForEach-Object Name | Sort-Object)
}

AfterAll {
    Disconnect-TenantAttach
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'An administrator''s bad days never lose a device' {
    It 'onboards, and the first upload is a full sync of the whole fleet' {
        Connect-Admin 1
        $registration = Register-TenantAttach -UploadScope All -Confirm:$false
        $script:app = New-Object PSCredential($registration.AppId, $registration.ClientSecret)
        Connect-Site
        $report = $script:fleet | Sync-TenantAttachDevice -Confirm:$false
        $report.kind | Should -Be 'full'
        $report.uploaded | Should -Be 100
        Get-CloudName | Should -Be $script:everyName
    }

    It 'a pipeline that fails half way uploads nothing of what came before' {
        Connect-Site
        $before = Get-TenantAttachStatus
        Connect-Site
        { & { $script:fleet[0..49]; throw 'Get-CMDevice: the SMS Provider stopped answering' } | Sync-TenantAttachDevice -Confirm:$false } |
            Should -Throw -ExpectedMessage '*SMS Provider stopped answering*'
        Connect-Site
        (Get-TenantAttachStatus).LastSyncTime | Should -Be $before.LastSyncTime -Because 'no upload ran'
        Get-CloudName | Should -Be $script:everyName
    }

    It 'a command feeding it that writes an error half way stops the upload; an earlier, unrelated error does not' {
        function Get-FailingCMDevice {
            [CmdletBinding()]
            param()
            $script:fleet[0..49]
            Write-Error -Message 'Get-CMDevice: the SMS Provider stopped answering' -Category ConnectionError
        }
        Connect-Site
        $before = Get-TenantAttachStatus
        Connect-Site
        { Get-FailingCMDevice -ErrorAction Continue 2>$null | Sync-TenantAttachDevice -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.PipelineError,Sync-TenantAttachDevice' -ExpectedMessage 'Get-FailingCMDevice, which feeds*SMS Provider stopped answering*nothing was uploaded*-IgnorePipelineError*'
        Connect-Site
        (Get-TenantAttachStatus).LastSyncTime | Should -Be $before.LastSyncTime -Because 'no upload ran'
        # An error handled before the pipeline, or written by another statement, does not stop it.
        Write-Error 'an earlier, unrelated error' -ErrorAction SilentlyContinue
        Connect-Site
        ($script:fleet | Sync-TenantAttachDevice -Confirm:$false).uploaded | Should -Be 0
        Get-CloudName | Should -Be $script:everyName
    }

    It 'a record that turned bad keeps its device, and the warning names the record and the field' {
        Connect-Site
        $records = @($script:fleet | Select-Object -Property *)
        $records[6].Name = 'N' * 2000
        $report = $records | Sync-TenantAttachDevice -Confirm:$false -WarningVariable warned 3>$null
        $report.skippedCount | Should -Be 1
        $report.deleted | Should -Be 0
        ($warned -join "`n") | Should -BeLike '*GUID:00000007-5AFE-4000-8000-000000000000*Name*'
        Get-CloudName | Should -Be $script:everyName
    }

    It '-WhatIf on a damaged state says how many of the devices in the cloud a partial input would remove' {
        $snapshot = Join-Path $script:work "PRIMARY/State/$($script:hierarchyId)/DeviceSync.state"
        $bytes = [System.IO.File]::ReadAllBytes($snapshot)
        $bytes[$bytes.Length - 3] = $bytes[$bytes.Length - 3] -bxor 0x5a
        [System.IO.File]::WriteAllBytes($snapshot, $bytes)
        Connect-Site
        $plan = $script:fleet[0..29] | Sync-TenantAttachDevice -WhatIf -WarningVariable warned 3>$null
        $plan.kind | Should -Be 'full'
        ($warned -join "`n") | Should -BeLike '*would remove 70 of the 100 devices*'
        { $script:fleet[0..29] | Sync-TenantAttachDevice -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_DELETION_REFUSED,Sync-TenantAttachDevice' -ExpectedMessage '*would remove 70 of the 100 devices*'
        Get-CloudName | Should -Be $script:everyName
        # The whole fleet repairs it without removing anything.
        Connect-Site
        $report = $script:fleet | Sync-TenantAttachDevice -Confirm:$false
        $report.kind | Should -Be 'full'
        $report.deleted | Should -Be 0
    }

    It 'a second server is refused by name; -TakeOver moves the uploads there, and back' {
        $machine = [System.Environment]::MachineName
        Connect-Site -Server 'SECOND'
        { $script:fleet | Sync-TenantAttachDevice -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_DELETION_REFUSED,Sync-TenantAttachDevice' -ExpectedMessage "*was expected in*by $machine*-TakeOver*"
        Connect-Site -Server 'SECOND'
        $report = $script:fleet | Sync-TenantAttachDevice -TakeOver -Confirm:$false
        $report.kind | Should -Be 'full'
        $report.deleted | Should -Be 0
        $log = Get-Content -LiteralPath (Join-Path $script:work 'SECOND/Logs/CMGatewaySyncUploadWorker.log') -Raw
        $log | Should -BeLike '*Taking over the uploads of hierarchy*'
        # The first server, with its own state, is now the other one.
        Connect-Site
        { $script:fleet | Sync-TenantAttachDevice -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_CONFLICT,Sync-TenantAttachDevice' -ExpectedMessage "*uploaded by another site instance: $machine*-TakeOver*"
        Connect-Site
        $back = $script:fleet | Sync-TenantAttachDevice -TakeOver -Confirm:$false
        $back.kind | Should -Be 'full' -Because 'its state did not make the cloud''s last full sync'
        Get-CloudName | Should -Be $script:everyName
    }

    It 'a wiped state folder with a partial pipeline is refused, saying where the state was expected' {
        Remove-Item -Recurse -Force (Join-Path $script:work 'PRIMARY/State')
        Connect-Site
        { $script:fleet[0..29] | Sync-TenantAttachDevice -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_DELETION_REFUSED,Sync-TenantAttachDevice' -ExpectedMessage '*was expected in*State*100 of its devices*'
        Get-CloudName | Should -Be $script:everyName
    }

    It 'a -Partial first run on a new state leaves the next automatic run a full sync' {
        Connect-Site -Server 'THIRD'
        $partial = $script:fleet[0..4] | Sync-TenantAttachDevice -Partial -TakeOver -Confirm:$false
        $partial.kind | Should -Be 'partial'
        Connect-Site -Server 'THIRD'
        $next = $script:fleet | Sync-TenantAttachDevice -Confirm:$false
        $next.kind | Should -Be 'full'
        Get-CloudName | Should -Be $script:everyName
    }

    It 'SMSIDs written in another letter case are the same devices' {
        Connect-Site -Server 'THIRD'
        $lower = @($script:fleet | Select-Object -Property * | ForEach-Object { $_.SMSID = $_.SMSID.ToLowerInvariant(); $_ })
        $report = $lower | Sync-TenantAttachDevice -Confirm:$false
        $report.kind | Should -Be 'delta'
        $report.uploaded | Should -Be 0
        $report.deleted | Should -Be 0
    }

    It 'partial input run after run cannot sweep the cloud a few devices at a time' {
        Connect-Admin 2
        $script:id100 = (Get-TenantAttachDevice -Name 'SAFE-PC-100').id
        Connect-Site -Server 'THIRD'
        $first = $script:fleet[0..91] | Sync-TenantAttachDevice -Confirm:$false
        $first.deleted | Should -Be 8
        $script:removedBy = $first.syncId
        Connect-Site -Server 'THIRD'
        { $script:fleet[0..83] | Sync-TenantAttachDevice -Confirm:$false } |
            Should -Throw -ErrorId 'TenantAttach.TA_STATUS_DELETION_REFUSED,Sync-TenantAttachDevice' -ExpectedMessage '*8 were removed in the last 24 hours*'
        (Get-CloudName).Count | Should -Be 92
    }

    It 'the cloud keeps what it removed: a removal is put back with the devices'' ids' {
        $body = @{ hierarchyId = $script:hierarchyId; syncId = $script:removedBy } | ConvertTo-Json
        # (The local cloud's test API; its certificate is the test CA's.)
        $answer = Invoke-RestMethod -Method Post -Uri "$env:TA_CLOUD_URL/_admin/removals/restore" -Body $body -ContentType 'application/json' -SkipCertificateCheck
        $answer.restored | Should -Be 8
        Get-CloudName | Should -Be $script:everyName
        (Get-TenantAttachDevice -Name 'SAFE-PC-100').id | Should -Be $script:id100
    }

    It 'onboarding again from another console brings every unchanged device back at the next run' {
        Connect-Admin 1
        Unregister-TenantAttach -Confirm:$false
        Register-TenantAttach -ImportClientId $script:app.UserName -ImportClientSecret $script:app.Password -SecretExpiry (Get-Date).AddYears(1) `
            -AppIdUri "api://$($script:tenant)/ConfigMgrService" -Confirm:$false | Out-Null
        @(Get-CloudName).Count | Should -Be 0 -Because 'offboarding removed the devices from the cloud'
        Connect-Site -Server 'THIRD'
        $next = $script:fleet | Sync-TenantAttachDevice -Confirm:$false
        $next.kind | Should -Be 'full'
        $next.reason | Should -BeLike '*onboarded again*'
        $next.uploaded | Should -Be 100
        Get-CloudName | Should -Be $script:everyName
    }
}
