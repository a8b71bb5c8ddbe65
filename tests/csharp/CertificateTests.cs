// A runbook-style certificate sign-in through TenantAttach.Interop.cs against tenant-attach-cloud
// (TA_CLOUD_URL, TA_CLOUD_CA; the certificates the cloud made are in TA_CLOUD_CERT_DIR with the
// password TA_CLOUD_CERT_PASSWORD, see scripts/test.sh): a registered PFX signs in from a file and
// inline (certificateData, as a C# tool holding the bytes passes it), an expired certificate and a
// wrong password are refused when the client opens, an unregistered certificate gets Azure AD's
// AADSTS700027; the password never shows. Called from InteropTests (C# 5, as Windows PowerShell
// 5.1 compiles the interop file).

using System;
using System.IO;
using TenantAttach.Interop;

public static class CertificateTests
{
    const string Tenant = "c0ffee00-0000-4000-8000-000000000001";
    const string CertApp = "e0000000-0000-4000-8000-00000000ce0c";

    static string Quote(string text)
    {
        return "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
    }

    static string Config(string url, string ca, string auth)
    {
        return "{\"tenantId\":\"" + Tenant + "\",\"siteCode\":\"PS1\","
            + "\"endpoints\":{\"authority\":" + Quote(url) + ",\"graph\":" + Quote(url) + ",\"gateway\":" + Quote(url) + "},"
            + "\"trustedCaFile\":" + Quote(ca) + ",\"auth\":" + auth + "}";
    }

    static string FileAuth(string file, string password)
    {
        return "{\"kind\":\"clientCertificate\",\"clientId\":\"" + CertApp + "\",\"certificateFile\":" + Quote(file) + ",\"certificatePassword\":" + Quote(password) + "}";
    }

    public static void Run(Action<bool, string> check)
    {
        string url = Environment.GetEnvironmentVariable("TA_CLOUD_URL");
        string ca = Environment.GetEnvironmentVariable("TA_CLOUD_CA");
        string dir = Environment.GetEnvironmentVariable("TA_CLOUD_CERT_DIR");
        string password = Environment.GetEnvironmentVariable("TA_CLOUD_CERT_PASSWORD");
        if (string.IsNullOrEmpty(url) || string.IsNullOrEmpty(ca) || string.IsNullOrEmpty(dir) || string.IsNullOrEmpty(password))
        {
            check(false, "TA_CLOUD_URL, TA_CLOUD_CA, TA_CLOUD_CERT_DIR and TA_CLOUD_CERT_PASSWORD must name the test cloud and its certificates (scripts/test.sh)");
            return;
        }
        string runbook = Path.Combine(dir, "runbook.pfx");

        using (TenantAttachClient client = TenantAttachClient.Open(Config(url, ca, FileAuth(runbook, password))))
        {
            string config = client.ConfigJson;
            check(config.Contains("\"kind\":\"clientCertificate\"") && config.Contains("\"certificatePassword\":\"***\"") && !config.Contains(password),
                "C#: a client opens with a PFX certificate; its configuration shows the password as ***");
            string devices = client.ListDevices(null);
            check(devices.StartsWith("["), "C#: signed in with the certificate, the runbook lists the devices");
        }

        string inline = "{\"kind\":\"clientCertificate\",\"clientId\":\"" + CertApp + "\",\"certificateData\":\""
            + Convert.ToBase64String(File.ReadAllBytes(runbook)) + "\",\"certificatePassword\":" + Quote(password) + "}";
        using (TenantAttachClient client = TenantAttachClient.Open(Config(url, ca, inline)))
        {
            check(client.ListDevices(null).StartsWith("[") && !client.ConfigJson.Contains(Convert.ToBase64String(File.ReadAllBytes(runbook)).Substring(0, 64)),
                "C#: the same certificate given inline (certificateData) signs in, and is shown as ***");
        }

        try
        {
            TenantAttachClient.Open(Config(url, ca, FileAuth(Path.Combine(dir, "expired.pfx"), password))).Dispose();
            check(false, "C#: an expired certificate is refused");
        }
        catch (TenantAttachException e)
        {
            check(e.Status == TaStatus.Expired && e.Message.Contains("expired on") && !e.ErrorJson.Contains(password),
                "C#: an expired certificate is refused at open with TA_STATUS_EXPIRED, saying when and what to do");
        }

        try
        {
            TenantAttachClient.Open(Config(url, ca, FileAuth(runbook, "c-tests~not.the.password"))).Dispose();
            check(false, "C#: a wrong password is refused");
        }
        catch (TenantAttachException e)
        {
            check(e.Status == TaStatus.InvalidConfig && e.ErrorJson.Contains("\"path\":\"auth.certificatePassword\"") && !e.ErrorJson.Contains("not.the.password"),
                "C#: a wrong PFX password is refused at open naming auth.certificatePassword, the password not shown");
        }

        using (TenantAttachClient stranger = TenantAttachClient.Open(Config(url, ca, FileAuth(Path.Combine(dir, "stranger.pfx"), password))))
        {
            try
            {
                stranger.ListDevices(null);
                check(false, "C#: an unregistered certificate is refused by the token service");
            }
            catch (TenantAttachException e)
            {
                check(e.Status == TaStatus.AuthFailed && e.ServiceCode == "AADSTS700027" && e.HttpStatus == 401 && !e.ErrorJson.Contains(password),
                    "C#: an unregistered certificate gets Azure AD's AADSTS700027 (TA_STATUS_AUTH_FAILED, HTTP 401)");
            }
        }
    }
}
