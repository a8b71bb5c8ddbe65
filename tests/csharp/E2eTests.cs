// The whole job through TenantAttach.Interop.cs against tenant-attach-cloud (TA_CLOUD_URL and
// TA_CLOUD_CA, started by scripts/test.sh): onboarding, upload with progress and non-ASCII names,
// actions, the notification worker, cancellation, status, offboarding. Called from InteropTests.
// Hierarchy and devices differ from the C test's, so both may run against one cloud.

using System;
using System.IO;
using System.Threading;
using TenantAttach.Interop;

public static class E2eTests
{
    const string Hierarchy = "5f0c1a6e-0000-4000-8000-00000000c5c5";
    const string Tenant = "c0ffee00-0000-4000-8000-000000000001";
    const string SiteApp = "e0000000-0000-4000-8000-00000000c0de";
    const string SiteSecret = "c-tests~site.secret.0001";

    static string Config(string url, string ca, string dir, string auth)
    {
        return Config(url, ca, dir, auth, Tenant, Hierarchy);
    }

    static string Config(string url, string ca, string dir, string auth, string tenant, string hierarchy)
    {
        return "{\"tenantId\":\"" + tenant + "\",\"siteCode\":\"PS1\",\"hierarchyId\":\"" + hierarchy + "\","
            + "\"endpoints\":{\"authority\":\"" + url + "\",\"graph\":\"" + url + "\",\"gateway\":\"" + url + "\"},"
            + "\"trustedCaFile\":\"" + ca + "\",\"stateDir\":\"" + dir + "/state\",\"logDir\":\"" + dir + "/logs\",\"auth\":" + auth + "}";
    }

    static string Between(string text, string after, string until)
    {
        int i = text.IndexOf(after, StringComparison.Ordinal);
        if (i < 0) return null;
        i += after.Length;
        int j = text.IndexOf(until, i, StringComparison.Ordinal);
        return j < 0 ? null : text.Substring(i, j - i);
    }

    public static void Run(Action<bool, string> check)
    {
        string url = Environment.GetEnvironmentVariable("TA_CLOUD_URL");
        string ca = Environment.GetEnvironmentVariable("TA_CLOUD_CA");
        if (string.IsNullOrEmpty(url) || string.IsNullOrEmpty(ca))
        {
            check(false, "TA_CLOUD_URL and TA_CLOUD_CA must name the test cloud (scripts/test.sh starts it)");
            return;
        }
        string dir = Path.Combine(Path.GetTempPath(), "ta-cs-e2e-" + Guid.NewGuid().ToString("N"));
        string siteAuth = "{\"kind\":\"clientSecret\",\"clientId\":\"" + SiteApp + "\",\"clientSecret\":\"" + SiteSecret + "\"}";
        using (TenantAttachClient site = TenantAttachClient.Open(Config(url, ca, dir, siteAuth)))
        using (TenantAttachClient helpdesk = TenantAttachClient.Open(Config(url, ca, dir, "{\"kind\":\"deviceCode\",\"clientId\":\"c1000000-0000-4000-8000-000000000002\"}")))
        using (TenantAttachClient reader = TenantAttachClient.Open(Config(url, ca, dir, "{\"kind\":\"deviceCode\",\"clientId\":\"c1000000-0000-4000-8000-000000000004\"}")))
        {
            string prompt = null;
            reader.SetDeviceCodeCallback(delegate (string json) { prompt = json; });
            try
            {
                reader.Register(null);
                check(false, "a non-admin cannot create the app");
            }
            catch (TenantAttachException e)
            {
                check(e.Status == TaStatus.Forbidden && e.Message.Contains("Global Administrator"), "C#: a non-admin is refused, naming the role");
                Schemas.Check(check, "last-error", e.ErrorJson, "ta_last_error_json's error");
            }
            check(prompt != null && prompt.Contains("userCode"), "C#: the device code prompt reached the managed callback");

            // A Global Administrator creates the app (another hierarchy), changes the scope, registers
            // again (converges); Fabrikam cannot attach that hierarchy; then it is offboarded.
            string other = "5f0c1a6e-0000-4000-8000-00000000c5c6";
            using (TenantAttachClient admin = TenantAttachClient.Open(Config(url, ca, dir, "{\"kind\":\"deviceCode\",\"clientId\":\"c1000000-0000-4000-8000-000000000001\"}", Tenant, other)))
            {
                string created = admin.Register("{\"uploadScope\":{\"kind\":\"all\"}}");
                check(created.Contains("\"clientSecret\":\"") && created.Contains("\"servicePrincipalId\""), "C#: a Global Administrator creates the app by device code");
                Schemas.Check(check, "register-result", created, "a created app's onboarding");
                string settings = "{\"uploadScope\":{\"kind\":\"collection\",\"collectionId\":\"PS100012\"}}";
                string changed = admin.SetUploadSettings(settings);
                check(changed.Contains("\"scopeVersion\":2"), "C#: scope change");
                Schemas.Check(check, "upload-settings", settings, "the upload settings");
                Schemas.Check(check, "onboarding-record", changed, "the changed onboarding");
                check(admin.Register(null).Contains("\"alreadyOnboarded\":true"), "C#: registering again converges");
                string fabAuth = "{\"kind\":\"clientSecret\",\"clientId\":\"e0000000-0000-4000-8000-00000000fab1\",\"clientSecret\":\"c-tests~fabrikam.secret.0001\"}";
                using (TenantAttachClient fab = TenantAttachClient.Open(Config(url, ca, dir, fabAuth, "fab00000-0000-4000-8000-000000000002", other)))
                {
                    try
                    {
                        fab.Register("{\"import\":{\"clientId\":\"e0000000-0000-4000-8000-00000000fab1\",\"clientSecret\":\"c-tests~fabrikam.secret.0001\",\"secretExpiry\":\"2030-01-01T00:00:00Z\",\"appIdUri\":\"api://fab00000-0000-4000-8000-000000000002/ConfigMgr\"}}");
                        check(false, "C#: a second tenant is refused");
                    }
                    catch (TenantAttachException e)
                    {
                        check(e.Status == TaStatus.Conflict && e.Message.Contains(Tenant), "C#: a second tenant is refused, naming the holder");
                    }
                }
                admin.Unregister();
                check(!admin.Status().Contains("\"onboarded\":true"), "C#: offboarded");
            }

            string import = "{\"import\":{\"clientId\":\"" + SiteApp + "\",\"clientSecret\":\"" + SiteSecret
                + "\",\"secretExpiry\":\"2030-01-01T00:00:00Z\",\"appIdUri\":\"api://" + Tenant + "/ConfigMgrService\"}}";
            string registered = site.Register(import);
            check(registered.Contains("\"appId\":\"" + SiteApp + "\""), "C#: import onboarding");
            Schemas.Check(check, "register-options", import, "the import options");
            Schemas.Check(check, "register-result", registered, "an imported app's onboarding");
            Schemas.Check(check, "config", site.ConfigJson, "the effective configuration");

            string devices = "[{\"Name\":\"Ladda upp enheter åäö\",\"SMSID\":\"GUID:C5000001\",\"IsClient\":true},"
                + "{\"Name\":\"SRV-DP-02\",\"SMSID\":\"GUID:C5000002\",\"IsClient\":true}]";
            int calls = 0;
            string report = site.SyncDevices(devices, null, delegate (ulong d, ulong t) { calls++; });
            check(report.Contains("\"uploaded\":2") && calls > 0, "C#: upload with progress (" + calls + " callbacks)");
            Schemas.Check(check, "device-records", devices, "the device records");
            Schemas.Check(check, "sync-report", report, "the upload's report");
            string file = Path.Combine(dir, "devices.ndjson");
            File.WriteAllText(file, "{\"Name\":\"Ladda upp enheter åäö\",\"SMSID\":\"GUID:C5000001\",\"IsClient\":true}\n"
                + "{\"Name\":\"SRV-DP-02\",\"SMSID\":\"GUID:C5000002\",\"IsClient\":true}\n");
            string fromFile = site.SyncDevicesFile(file, "{\"mode\":\"auto\",\"maxRecords\":1}", null);
            check(fromFile.Contains("\"considered\":2"), "C#: upload from an NDJSON file");
            Schemas.Check(check, "sync-options", "{\"mode\":\"auto\",\"maxRecords\":1}", "the sync options");
            Schemas.Check(check, "sync-report", fromFile, "the file upload's report");

            // The deletion guard: an empty list, or removing more than allowed, sends nothing.
            try
            {
                site.SyncDevices("[]", null, null);
                check(false, "C#: an empty device list is refused");
            }
            catch (TenantAttachException e)
            {
                check(e.Status == TaStatus.DeletionRefused && e.ErrorJson.Contains("\"wouldDelete\":2") && e.Message.Contains("allowMassDeletion"),
                    "C#: an empty device list is refused with TA_STATUS_DELETION_REFUSED, saying it would remove 2 devices and how to allow it");
            }
            string one = "[{\"Name\":\"Ladda upp enheter åäö\",\"SMSID\":\"GUID:C5000001\",\"IsClient\":true}]";
            try
            {
                site.SyncDevices(one, "{\"maxDeletions\":0}", null);
                check(false, "C#: removing a device with no deletions allowed is refused");
            }
            catch (TenantAttachException e)
            {
                check(e.Status == TaStatus.DeletionRefused && e.Message.Contains("would remove 1 of the 2 devices"), "C#: removing a device with no deletions allowed is refused");
            }
            check(site.SyncDevices(one, "{\"maxDeletions\":0,\"allowMassDeletion\":true}", null).Contains("\"deleted\":1"), "C#: the explicit allowance goes through");
            check(site.SyncDevices(devices, null, null).Contains("\"uploaded\":1"), "C#: the device comes back");

            // A callback that throws: caught before it reaches the library, the call is cancelled, and the
            // exception comes back to the caller when the call returns.
            try
            {
                site.SyncDevices(devices, "{\"mode\":\"full\"}", delegate (ulong d, ulong t) { throw new InvalidOperationException("progress callback failed (test)"); });
                check(false, "C#: an exception from the progress callback reaches the caller");
            }
            catch (InvalidOperationException e)
            {
                check(e.Message == "progress callback failed (test)", "C#: an exception from the progress callback reaches the caller after the call returns");
            }
            string after = site.SyncDevices(devices, null, null);
            check(after.Contains("\"uploaded\":0") || after.Contains("\"kind\":\"full\""), "C#: the next upload converges (" + after.Substring(0, Math.Min(80, after.Length)) + ")");

            string listed = helpdesk.ListDevices("deviceName eq 'Ladda upp enheter åäö'");
            string id = Between(listed, "\"id\":\"", "\"");
            check(id != null && listed.Contains("Ladda upp enheter åäö"), "C#: the device named Ladda upp enheter åäö comes back intact");
            Schemas.Check(check, "devices", listed, "the device list");
            string results = helpdesk.TriggerAction("[\"" + id + "\"]", "SyncMachinePolicy");
            check(results.Contains("\"result\":\"accepted\""), "C#: Sync machine policy accepted");
            Schemas.Check(check, "device-selection", "[\"" + id + "\"]", "the device ids");
            Schemas.Check(check, "action-results", results, "the action's results");
            check(helpdesk.TriggerAction("[\"" + id + "\"]", "SyncUserPolicy").Contains("accepted")
                && helpdesk.TriggerAction("[\"" + id + "\"]", "AppEvaluationCycle").Contains("accepted"), "C#: Sync user policy and App evaluation cycle accepted");
            try
            {
                helpdesk.TriggerAction("[\"" + id + "\"]", "fullScan");
                check(false, "C#: an unsupported action is refused");
            }
            catch (TenantAttachException e)
            {
                check(e.Status == TaStatus.UnsupportedAction && e.Message.Contains("AppEvaluationCycle"), "C#: an unsupported action is refused, naming the three");
            }

            string users = "[{\"aadUserId\":\"a0000000-0000-4000-8000-000000000002\",\"adDiscovered\":true,\"azureAdDiscovered\":true}]";
            string decisions = "";
            string nonConforming = null;
            for (int i = 0; i < 5 && !(decisions.Contains("RequestMachinePolicy") && decisions.Contains("RequestUsersPolicy") && decisions.Contains("AppDeplEvalNow")); i++)
            {
                string answer = site.ReceiveNotifications(users, 5);
                nonConforming = nonConforming ?? Schemas.Violations("decisions", answer);
                decisions += answer;
            }
            check(decisions.Length > 0 && nonConforming == null, "C#: every answer of the notification worker conforms to the schema decisions" + (nonConforming == null ? "" : " (" + nonConforming + ")"));
            Schemas.Check(check, "discovered-users", users, "the discovered users");
            check(decisions.Contains("\"templateId\":\"RequestMachinePolicy\"") && decisions.Contains("\"templateNumber\":1"), "C#: the worker receives Sync machine policy with TemplateID 1");
            check(decisions.Contains("\"notificationType\":\"ClientNotificationRequestUsersPolicyNow\"") && decisions.Contains("\"templateNumber\":2"), "C#: Sync user policy with TemplateID 2");
            check(decisions.Contains("\"notificationType\":\"ClientNotificationAppDeplEvalNow\"") && decisions.Contains("\"templateNumber\":6"), "C#: App evaluation cycle with TemplateID 6");
            string nid = Between(decisions, "\"notificationId\":\"", "\"");
            string done = site.CompleteNotification(nid, true, null, "TASK-CS");
            check(done.Contains("\"duplicate\":false"), "C#: the outcome is reported");
            Schemas.Check(check, "completion", done, "the completion");
            check(site.CompleteNotification(nid, true, null, "TASK-CS").Contains("\"duplicate\":true"), "C#: completing twice is harmless");

            // Intune ignores a filter on a property it does not support and answers with every
            // device: the library returns none of them, and triggers nothing on such a filter.
            string ignored = "userId eq 'a0000000-0000-4000-8000-000000000002'";
            try
            {
                helpdesk.ListDevices(ignored);
                check(false, "C#: a filter the service ignored is refused");
            }
            catch (TenantAttachException e)
            {
                check(e.Status == TaStatus.InvalidArgument && e.ServiceCode == "FilterNotApplied" && e.Message.Contains(ignored),
                    "C#: a filter the service ignored is refused (InvalidArgument, FilterNotApplied)");
            }
            try
            {
                helpdesk.TriggerAction("{\"filter\":\"" + ignored + "\"}", "SyncMachinePolicy");
                check(false, "C#: no action on a filter the service ignored");
            }
            catch (TenantAttachException e)
            {
                check(e.Status == TaStatus.InvalidArgument && e.ServiceCode == "FilterNotApplied", "C#: no action on a filter the service ignored");
            }
            // A filter the service applies: the devices it lists, checked, get the action.
            string byFilter = helpdesk.TriggerAction("{\"filter\":\"deviceName eq 'SRV-DP-02'\"}", "AppEvaluationCycle");
            check(byFilter.Contains("\"result\":\"accepted\"") && byFilter.Split(new string[] { "\"managedDeviceId\"" }, StringSplitOptions.None).Length == 2,
                "C#: an action on the devices a filter lists ({\"filter\":...})");
            Schemas.Check(check, "device-selection", "{\"filter\":\"deviceName eq 'SRV-DP-02'\"}", "a device filter");
            Schemas.Check(check, "action-results", byFilter, "the filtered action's results");

            // Cancellation: an already-cancelled token stops a long-poll before it starts.
            CancellationTokenSource cts = new CancellationTokenSource();
            cts.Cancel();
            try
            {
                site.ReceiveNotifications(users, 30, cts.Token);
                check(false, "C#: a cancelled call stops");
            }
            catch (TenantAttachException e)
            {
                check(e.Status == TaStatus.Cancelled, "C#: a cancelled call stops with Cancelled");
            }

            string status = site.Status();
            check(status.Contains("\"onboarded\":true"), "C#: status says onboarded");
            Schemas.Check(check, "status", status, "the status");
            // Every endpoint on the test cloud: nothing here reaches Microsoft.
            string all = "{\"endpoints\":{\"authority\":\"" + url + "\",\"graph\":\"" + url + "\",\"gateway\":\"" + url + "\",\"gatewayUs\":\"" + url
                + "\",\"gatewayEu\":\"" + url + "\",\"aka\":\"" + url + "\"},\"trustedCaFile\":\"" + ca + "\"}";
            using (TenantAttachClient checker = TenantAttachClient.Open(all))
            {
                string checks = checker.TestEndpoints();
                check(checks.Contains("\"reachable\":true"), "C#: the endpoint check reaches the test cloud");
                Schemas.Check(check, "endpoint-checks", checks, "the endpoint check");
            }
            check(Schemas.Violations("sync-report", "{\"syncId\":7}") != null, "C#: a report of the wrong shape does not conform");
            site.Unregister();
            try
            {
                site.SyncDevices(devices, null, null);
                check(false, "C#: upload after offboarding is refused");
            }
            catch (TenantAttachException e)
            {
                check(e.Status == TaStatus.NotOnboarded, "C#: upload after offboarding is NotOnboarded");
            }
        }
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }
}
