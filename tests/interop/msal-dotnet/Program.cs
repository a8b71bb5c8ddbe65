// Microsoft's MSAL.NET (Microsoft.Identity.Client) against tenant-attach-cloud: client credentials
// (a secret, and a certificate with WithCertificate), a wrong secret, unknown and expired
// certificates, and the device code flow, with MSAL changed only in its authority URL, instance
// discovery and the HTTP client that trusts the cloud's CA. The same checks as test_msal.py: codes and
// shapes (error codes, the response body's fields, token claims), never the services' prose.
// Prints TAP lines; exits 1 when a check failed. Usage: MsalInterop URL CA_FILE

using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Identity.Client;

internal static class Program
{
    const string Contoso = "contoso.onmicrosoft.com";
    const string ContosoId = "c0ffee00-0000-4000-8000-000000000001";
    const string AutomationApp = "e0000000-0000-4000-8000-000000000001";
    const string AutomationSecret = "local~automation.secret.0001";
    const string GraphPowerShell = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
    const string Admin = "admin@contoso.onmicrosoft.com";
    const string Graph = "https://graph.microsoft.com";
    const string Gateway = "https://gateway.configmgr.manage.microsoft.com";

    static int count;
    static int failed;

    static void Check(bool ok, string what)
    {
        count++;
        if (!ok) failed++;
        Console.WriteLine((ok ? "ok " : "not ok ") + count + " - " + what);
    }

    /// <summary>The access token's claims (not verified: the cloud checks its own tokens).</summary>
    static JsonElement Claims(string jwt)
    {
        string body = jwt.Split('.')[1].Replace('-', '+').Replace('_', '/');
        body += new string('=', (4 - body.Length % 4) % 4);
        return JsonDocument.Parse(Convert.FromBase64String(body)).RootElement;
    }

    static string Claim(JsonElement claims, string name)
    {
        return claims.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
    }

    static bool HasItem(JsonElement claims, string name, string item)
    {
        return claims.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Array
            && v.EnumerateArray().Any(e => e.GetString() == item);
    }

    static string Short(string s)
    {
        return s.Length <= 100 ? s : s.Substring(0, 100) + "...";
    }

    static async Task<int> Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.WriteLine("not ok 1 - usage: MsalInterop URL CA_FILE");
            return 2;
        }
        string url = args[0].TrimEnd('/');
        X509Certificate2 ca = X509Certificate2.CreateFromPem(System.IO.File.ReadAllText(args[1]));
        TrustingOneCa http = new TrustingOneCa(ca);
        // Every MSAL call is bounded: a cloud that never answers fails the check instead of hanging.
        using CancellationTokenSource timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        CancellationToken ct = timeout.Token;

        // The authority is the cloud's URL with the tenant, as Azure AD's is. Instance discovery is
        // off, as test_msal.py has it: with it on, MSAL 4.92 asks login.microsoftonline.com (not the
        // authority's host) about any host it does not know, before its first token request. Here
        // that request fails and MSAL logs "Instance Discovery failed. MSAL will continue without
        // network instance metadata", so it would pass by accident; on a machine that reaches the
        // public host the answer depends on that service. Off, no request leaves the loopback cloud.
        // validateAuthority stays at its default: with discovery off there is nothing it validates against.
        IConfidentialClientApplication app = ConfidentialClientApplicationBuilder.Create(AutomationApp)
            .WithClientSecret(AutomationSecret)
            .WithAuthority(url + "/" + Contoso)
            .WithInstanceDiscovery(false)
            .WithHttpClientFactory(http)
            .Build();
        string[] graphDefault = { Graph + "/.default" };
        AuthenticationResult? appToken = null;
        try
        {
            appToken = await app.AcquireTokenForClient(graphDefault).ExecuteAsync(ct);
            Check(appToken.AuthenticationResultMetadata.TokenSource == TokenSource.IdentityProvider,
                "MSAL.NET client credentials: token acquired from the token endpoint");
        }
        catch (MsalException e)
        {
            Check(false, "MSAL.NET client credentials: token acquired (" + e.GetType().Name + " " + e.ErrorCode + ": " + Short(e.Message) + ")");
        }
        if (appToken != null)
        {
            JsonElement c = Claims(appToken.AccessToken);
            Check(Claim(c, "aud") == Graph && Claim(c, "idtyp") == "app" && Claim(c, "tid") == ContosoId && Claim(c, "appid") == AutomationApp,
                "the app token is for Graph, app-only, in Contoso, for the automation app (aud, idtyp, tid, appid)");
            Check(Claim(c, "ver") == "1.0" && Claim(c, "iss") == "https://sts.windows.net/" + ContosoId + "/" && !c.TryGetProperty("azp", out _),
                "the app token is a v1.0 token as Azure AD issues Graph's (ver, iss, no azp)");
            Check(HasItem(c, "roles", "DeviceManagementManagedDevices.Read.All") && !c.TryGetProperty("scp", out _),
                "the app token carries the app's roles and no delegated scopes");
            TimeSpan left = appToken.ExpiresOn - DateTimeOffset.UtcNow;
            Check(left > TimeSpan.FromMinutes(50) && left <= TimeSpan.FromMinutes(61) && appToken.TokenType == "Bearer",
                "MSAL.NET reads a Bearer token valid for an hour (" + (int)left.TotalMinutes + " min left)");
            using HttpRequestMessage list = new HttpRequestMessage(HttpMethod.Get, url + "/beta/deviceManagement/managedDevices");
            list.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", appToken.AccessToken);
            using HttpResponseMessage answer = await http.GetHttpClient().SendAsync(list, ct);
            string text = await answer.Content.ReadAsStringAsync(ct);
            Check((int)answer.StatusCode == 200 && JsonDocument.Parse(text).RootElement.TryGetProperty("value", out _),
                "Graph accepts MSAL.NET's app token (" + (int)answer.StatusCode + ")");
            AuthenticationResult again = await app.AcquireTokenForClient(graphDefault).ExecuteAsync(ct);
            Check(again.AuthenticationResultMetadata.TokenSource == TokenSource.Cache && again.AccessToken == appToken.AccessToken,
                "MSAL.NET caches the app token");
        }

        Guid correlation = Guid.NewGuid();
        try
        {
            await ConfidentialClientApplicationBuilder.Create(AutomationApp)
                .WithClientSecret("wrong")
                .WithAuthority(url + "/" + Contoso)
                .WithInstanceDiscovery(false)
                .WithHttpClientFactory(http)
                .Build()
                .AcquireTokenForClient(graphDefault).WithCorrelationId(correlation).ExecuteAsync(ct);
            Check(false, "a wrong secret is refused");
        }
        catch (MsalServiceException e)
        {
            JsonElement body = JsonDocument.Parse(e.ResponseBody).RootElement;
            bool coded = body.TryGetProperty("error_codes", out JsonElement codes) && codes.EnumerateArray().Any(x => x.GetInt32() == 7000215);
            Check(e.ErrorCode == "invalid_client" && e.StatusCode == 401 && coded,
                "a wrong secret: MsalServiceException invalid_client, 401, error_codes [7000215] (" + e.ErrorCode + ", " + e.StatusCode + ")");
            string description = Claim(body, "error_description");
            string[] lines = description.Split("\r\n");
            Check(lines.Length == 4 && lines[1].StartsWith("Trace ID: ") && Claim(body, "correlation_id") == correlation.ToString()
                && lines[2] == "Correlation ID: " + correlation && Claim(body, "trace_id") != Claim(body, "correlation_id"),
                "Azure AD's error shape: MSAL.NET's correlation id comes back, the trace id is another, each on its own line");
        }
        catch (Exception e)
        {
            Check(false, "a wrong secret: MsalServiceException expected, got " + e.GetType().Name + ": " + Short(e.Message));
        }

        // Certificate credentials (WithCertificate): the cloud makes a certificate for the automation
        // app and registers it (its keyCredentials); MSAL signs the client assertion with its key.
        // A certificate the app does not have, and an expired one, get Azure AD's AADSTS700027.
        async Task<X509Certificate2> NewCertificate(string subject, int validDays, bool register)
        {
            string password = "msal-" + Guid.NewGuid().ToString("N");
            Dictionary<string, object> ask = new Dictionary<string, object> { { "subject", subject }, { "password", password }, { "validDays", validDays } };
            if (register) ask["appId"] = AutomationApp;
            using StringContent content = new StringContent(JsonSerializer.Serialize(ask), Encoding.UTF8, "application/json");
            using HttpResponseMessage r = await http.GetHttpClient().PostAsync(url + "/_admin/certificates", content, ct);
            JsonElement made = JsonDocument.Parse(await r.Content.ReadAsStringAsync(ct)).RootElement;
            byte[] pfx = Convert.FromBase64String(Claim(made, "pfxBase64"));
            return X509CertificateLoader.LoadPkcs12(pfx, password, X509KeyStorageFlags.Exportable);
        }
        IConfidentialClientApplication WithCertificate(X509Certificate2 certificate)
        {
            return ConfidentialClientApplicationBuilder.Create(AutomationApp)
                .WithCertificate(certificate)
                .WithAuthority(url + "/" + Contoso)
                .WithInstanceDiscovery(false)
                .WithHttpClientFactory(http)
                .Build();
        }
        using (X509Certificate2 registered = await NewCertificate("MSAL.NET runbook", 30, true))
        {
            try
            {
                AuthenticationResult certToken = await WithCertificate(registered).AcquireTokenForClient(graphDefault).ExecuteAsync(ct);
                JsonElement c = Claims(certToken.AccessToken);
                Check(certToken.AuthenticationResultMetadata.TokenSource == TokenSource.IdentityProvider && Claim(c, "appid") == AutomationApp
                    && Claim(c, "appidacr") == "2" && Claim(c, "aud") == Graph,
                    "MSAL.NET WithCertificate: token acquired with a client assertion (appid, appidacr 2, aud)");
            }
            catch (MsalException e)
            {
                string answer = e is MsalServiceException se ? Claim(JsonDocument.Parse(se.ResponseBody).RootElement, "error_description").Split("\r\n")[0] : e.Message;
                Check(false, "MSAL.NET WithCertificate: token acquired (" + e.GetType().Name + " " + e.ErrorCode + ": " + answer + ")");
            }
        }
        foreach ((string subject, int days, bool register, string what) in new[]
        {
            ("MSAL.NET unknown", 30, false, "a certificate the app does not have"),
            ("MSAL.NET expired", -1, true, "an expired certificate"),
        })
        {
            using X509Certificate2 certificate = await NewCertificate(subject, days, register);
            try
            {
                await WithCertificate(certificate).AcquireTokenForClient(graphDefault).ExecuteAsync(ct);
                Check(false, what + " is refused");
            }
            catch (MsalServiceException e)
            {
                JsonElement body = JsonDocument.Parse(e.ResponseBody).RootElement;
                bool coded = body.TryGetProperty("error_codes", out JsonElement codes) && codes.EnumerateArray().Any(x => x.GetInt32() == 700027);
                Check(e.ErrorCode == "invalid_client" && e.StatusCode == 401 && coded,
                    what + ": MsalServiceException invalid_client, 401, error_codes [700027] (" + e.ErrorCode + ", " + e.StatusCode + ")");
            }
            catch (Exception e)
            {
                Check(false, what + ": MsalServiceException expected, got " + e.GetType().Name + ": " + Short(e.Message));
            }
        }

        // The HTTP client trusts that one CA only: with another CA in its place, MSAL cannot connect.
        using (RSA key = RSA.Create(2048))
        {
            CertificateRequest other = new CertificateRequest("CN=Another CA", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            other.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            using X509Certificate2 otherCa = other.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            try
            {
                await ConfidentialClientApplicationBuilder.Create(AutomationApp)
                    .WithClientSecret(AutomationSecret)
                    .WithAuthority(url + "/" + Contoso)
                    .WithInstanceDiscovery(false)
                    .WithHttpClientFactory(new TrustingOneCa(otherCa))
                    .Build()
                    .AcquireTokenForClient(graphDefault).ExecuteAsync(ct);
                Check(false, "a cloud whose certificate another CA signed is refused");
            }
            catch (Exception e)
            {
                Exception? inner = e;
                while (inner != null && !(inner is System.Security.Authentication.AuthenticationException)) inner = inner.InnerException;
                // MSAL lets the HttpRequestException through unwrapped; its cause is the handshake.
                Check(inner != null,
                    "a cloud whose certificate another CA signed is refused: the TLS handshake fails (" + e.GetType().Name + ")");
            }
        }

        // The device code flow as Microsoft Graph PowerShell signs in: the prompt comes through the
        // callback, the user approves through the cloud's /_admin (what a person does on /devicelogin).
        // MSAL.NET polls with grant_type=device_code (not the URN): the cloud must take both.
        IPublicClientApplication pub = PublicClientApplicationBuilder.Create(GraphPowerShell)
            .WithAuthority(url + "/organizations")
            .WithInstanceDiscovery(false)
            .WithHttpClientFactory(http)
            .Build();
        DeviceCodeResult? prompt = null;
        string approval = "not sent";
        AuthenticationResult? user = null;
        try
        {
            user = await pub.AcquireTokenWithDeviceCode(graphDefault, async code =>
            {
                prompt = code;
                string body = JsonSerializer.Serialize(new Dictionary<string, string> { { "userCode", code.UserCode }, { "user", Admin } });
                using StringContent content = new StringContent(body, Encoding.UTF8, "application/json");
                using HttpResponseMessage r = await http.GetHttpClient().PostAsync(url + "/_admin/devicecode", content, ct);
                approval = ((int)r.StatusCode).ToString();
            }).ExecuteAsync(ct);
        }
        catch (MsalException e)
        {
            Check(false, "MSAL.NET device code flow (" + e.GetType().Name + " " + e.ErrorCode + ": " + Short(e.Message) + ")");
        }
        Check(prompt != null && prompt.UserCode.Length > 0 && prompt.VerificationUrl.StartsWith(url + "/") && prompt.Message.Contains(prompt.UserCode),
            "MSAL.NET device code flow started: the prompt names the cloud's page and the code");
        Check(user != null && approval.StartsWith("2"), "MSAL.NET device code flow: token after approval (approval answered " + approval + ")");
        if (user != null)
        {
            JsonElement c = Claims(user.AccessToken);
            Check(Claim(c, "aud") == Graph && Claim(c, "idtyp") == "user" && Claim(c, "tid") == ContosoId && Claim(c, "upn") == Admin
                && Claim(c, "appid") == GraphPowerShell && Claim(c, "scp").Split(' ').Contains("DeviceManagementManagedDevices.PrivilegedOperations.All"),
                "the user token is delegated, for Graph, for admin in Contoso, with the consented Intune scopes (aud, idtyp, tid, upn, appid, scp)");
            Check(Claim(c, "ver") == "1.0" && Claim(c, "iss") == "https://sts.windows.net/" + ContosoId + "/", "the user token is a v1.0 token (ver, iss)");
            Check(HasItem(c, "wids", "62e90394-69f5-4237-9190-012177145e10"), "the user token names the Global Administrator role (wids)");
            IEnumerable<IAccount> accounts = await pub.GetAccountsAsync();
            IAccount? account = accounts.SingleOrDefault();
            Check(account != null && account.Username == Admin && account.HomeAccountId.TenantId == ContosoId,
                "MSAL.NET caches the signed-in account (username, home tenant from client_info)");
            if (account != null)
            {
                try
                {
                    AuthenticationResult silent = await pub.AcquireTokenSilent(new[] { Gateway + "/.default" }, account).ExecuteAsync(ct);
                    Check(Claim(Claims(silent.AccessToken), "aud") == Gateway && silent.AuthenticationResultMetadata.TokenSource == TokenSource.IdentityProvider,
                        "MSAL.NET gets a gateway token silently with the refresh token");
                }
                catch (MsalException e)
                {
                    Check(false, "MSAL.NET gets a gateway token silently (" + e.ErrorCode + ": " + Short(e.Message) + ")");
                }
            }
        }
        // The very certificate file the library's own certificate tests (C, C#) sign in with, on
        // their cloud (scripts/test.sh passes it): MSAL.NET gets a token with it too.
        string? runbookUrl = Environment.GetEnvironmentVariable("TA_RUNBOOK_CLOUD_URL");
        string? runbookPfx = Environment.GetEnvironmentVariable("TA_RUNBOOK_PFX");
        if (!string.IsNullOrEmpty(runbookUrl) && !string.IsNullOrEmpty(runbookPfx))
        {
            string runbookApp = Environment.GetEnvironmentVariable("TA_RUNBOOK_APP") ?? "";
            X509Certificate2 runbookCa = X509Certificate2.CreateFromPem(System.IO.File.ReadAllText(Environment.GetEnvironmentVariable("TA_RUNBOOK_CLOUD_CA") ?? ""));
            try
            {
                using X509Certificate2 runbook = X509CertificateLoader.LoadPkcs12FromFile(runbookPfx,
                    Environment.GetEnvironmentVariable("TA_RUNBOOK_PFX_PASSWORD"), X509KeyStorageFlags.Exportable);
                AuthenticationResult t = await ConfidentialClientApplicationBuilder.Create(runbookApp)
                    .WithCertificate(runbook)
                    .WithAuthority(runbookUrl.TrimEnd('/') + "/" + Contoso)
                    .WithInstanceDiscovery(false)
                    .WithHttpClientFactory(new TrustingOneCa(runbookCa))
                    .Build()
                    .AcquireTokenForClient(graphDefault).ExecuteAsync(ct);
                JsonElement c = Claims(t.AccessToken);
                Check(Claim(c, "appid") == runbookApp && Claim(c, "appidacr") == "2",
                    "MSAL.NET WithCertificate with the library tests' own runbook certificate (" + System.IO.Path.GetFileName(runbookPfx) + ", app " + runbookApp + "): token acquired");
            }
            catch (Exception e)
            {
                Check(false, "MSAL.NET WithCertificate with the library tests' runbook certificate: " + e.GetType().Name + ": " + Short(e.Message));
            }
        }
        else
        {
            Console.WriteLine("# TA_RUNBOOK_CLOUD_URL/TA_RUNBOOK_PFX not given: MSAL.NET with the library tests' certificate file not run (scripts/test.sh gives them)");
        }
        Console.WriteLine("# MSAL.NET " + typeof(IPublicClientApplication).Assembly.GetName().Version + ": " + count + " tests, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }
}

/// <summary>
/// MSAL's HTTP client, trusting the cloud's self-signed CA and nothing else: the server's chain must
/// end in that CA (a custom root trust store holding only it) and the name must match. Certificate
/// checks stay on; the machine's trust store is not changed.
/// </summary>
internal sealed class TrustingOneCa : IMsalHttpClientFactory
{
    private readonly HttpClient client;

    public TrustingOneCa(X509Certificate2 ca)
    {
        HttpClientHandler handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (request, certificate, presented, errors) =>
            {
                // A name mismatch or a missing certificate is never excused; only the chain is judged here.
                if (certificate == null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None) return false;
                using X509Chain chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                // The local CA publishes no revocation list; there is nothing to ask.
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                if (presented != null)
                    foreach (X509ChainElement e in presented.ChainElements) chain.ChainPolicy.ExtraStore.Add(e.Certificate);
                return chain.Build(certificate);
            },
        };
        client = new HttpClient(handler);
    }

    public HttpClient GetHttpClient()
    {
        return client;
    }
}
