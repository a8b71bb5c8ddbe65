# Certificate sign-in from an X509Certificate2 (Connect-TenantAttach -Certificate or
# -CertificateThumbprint): the certificate and its private key go to the library as an in-memory PFX
# protected by a one-time random password, never through a file.

function ConvertTo-TenantAttachCertificateAuth {
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [string] $ClientId,
        [Parameter(Mandatory)] [System.Security.Cryptography.X509Certificates.X509Certificate2] $Certificate
    )
    if (-not $Certificate.HasPrivateKey) {
        $exception = New-Object System.ArgumentException("The certificate $($Certificate.Thumbprint) ($($Certificate.Subject)) has no private key here. Give the certificate with its private key: import its PFX (Import-PfxCertificate on Windows), or use -CertificatePath with the PFX file.")
        $Cmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.CertificateWithoutPrivateKey', 'InvalidArgument', $Certificate.Thumbprint)))
    }
    $password = [guid]::NewGuid().ToString('N') + [guid]::NewGuid().ToString('N')
    try {
        $pfx = $Certificate.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pkcs12, $password)
    }
    catch {
        $exception = New-Object System.InvalidOperationException("The private key of certificate $($Certificate.Thumbprint) cannot be exported, so the library cannot sign with it ($($_.Exception.Message)). Import the certificate with an exportable key (Import-PfxCertificate -Exportable), or use -CertificatePath with its PFX file.", $_.Exception)
        $Cmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.CertificateKeyNotExportable', 'SecurityError', $Certificate.Thumbprint)))
    }
    return @{ kind = 'clientCertificate'; clientId = $ClientId; certificateData = [Convert]::ToBase64String($pfx); certificatePassword = $password }
}

# The certificate with this thumbprint in the personal store of the current user, else of the
# machine (Windows: Cert:\CurrentUser\My, Cert:\LocalMachine\My).
function Find-TenantAttachStoreCertificate {
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [string] $Thumbprint
    )
    foreach ($location in 'CurrentUser', 'LocalMachine') {
        $store = New-Object System.Security.Cryptography.X509Certificates.X509Store('My', $location)
        try {
            $store.Open([System.Security.Cryptography.X509Certificates.OpenFlags]::ReadOnly)
            $found = $store.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $Thumbprint, $false)
            if ($found.Count -gt 0) {
                return $found[0]
            }
        }
        catch [System.Security.Cryptography.CryptographicException], [System.PlatformNotSupportedException] {
            Write-Verbose "The $location\My certificate store cannot be read here: $($_.Exception.Message)"
        }
        finally {
            $store.Dispose()
        }
    }
    $exception = New-Object System.Management.Automation.ItemNotFoundException("No certificate with thumbprint $Thumbprint is in Cert:\CurrentUser\My or Cert:\LocalMachine\My. Import the app's certificate with its private key there, or use -CertificatePath with its PFX file.")
    $Cmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord($exception, 'TenantAttach.CertificateNotFound', 'ObjectNotFound', $Thumbprint)))
}
