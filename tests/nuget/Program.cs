// The TenantAttach NuGet package as a C# developer uses it: tests/nuget/run.sh creates a new console
// project outside the repository (dotnet new console), adds the package from a local folder
// (dotnet add package TenantAttach --source <folder>), puts this file in as Program.cs, builds and
// runs it against a local tenant-attach-cloud (TA_CLOUD_URL, TA_CLOUD_CA). It prints TAP lines.
//
//   dotnet run                 the whole job: onboarding (import), upload with progress, an action as a
//                              helpdesk user by device code, the notification worker and its completion,
//                              errors, cancellation of a long call, offboarding
//   dotnet run -- abi          TENANT_ATTACH_LIBRARY names a library of another ABI: the package refuses it

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using TenantAttach;

public static class Program
{
    const string Tenant = "c0ffee00-0000-4000-8000-000000000001";
    const string Hierarchy = "5f0c1a6e-0000-4000-8000-00000000a9e7";
    const string OtherHierarchy = "5f0c1a6e-0000-4000-8000-00000000a9e8";
    const string SiteApp = "e0000000-0000-4000-8000-00000000c0de";
    const string SiteSecret = "c-tests~site.secret.0001";
    const string HelpdeskClient = "c1000000-0000-4000-8000-000000000002";
    const string HelpdeskUser = "a0000000-0000-4000-8000-000000000002";

    static int n, failed;

    static void Check(bool ok, string what)
    {
        n++;
        if (!ok) failed++;
        Console.WriteLine((ok ? "ok " : "not ok ") + n + " - " + what);
    }

    static void Fail(string what, Exception e)
    {
        Check(false, what + ": " + e.GetType().Name + ": " + e.Message);
    }

    /// <summary>Counts progress reports synchronously (Progress&lt;T&gt; would post them to the thread pool).</summary>
    sealed class Recorder : IProgress<SyncProgress>
    {
        public readonly List<SyncProgress> Reports = new List<SyncProgress>();
        public Action<SyncProgress>? Then;
        public void Report(SyncProgress value) { Reports.Add(value); Then?.Invoke(value); }
    }

    public static int Main(string[] args)
    {
        try
        {
            if (args.Length > 0 && args[0] == "abi") AbiMismatch();
            else Job();
        }
        catch (Exception e)
        {
            Fail("unexpected exception", e);
            Console.WriteLine("# " + e.ToString().Replace("\n", "\n# "));
        }
        Console.WriteLine("1.." + n);
        return failed == 0 && n > 0 ? 0 : 1;
    }

    static void AbiMismatch()
    {
        try
        {
            using (TenantAttachClient.Open("{}")) { }
            Check(false, "a library of another ABI version is refused");
        }
        catch (TenantAttachLibraryException e)
        {
            Check(e.ActualAbiVersion == 999 && e.ExpectedAbiVersion == int.Parse(Environment.GetEnvironmentVariable("TA_EXPECTED_ABI") ?? "-1")
                && e.Message.Contains("ABI version 999"), "a library of another ABI version is refused when it loads: " + e.Message);
        }
    }

    static TenantAttachConfiguration Config(string url, string ca, string dir, AuthSettings auth, string hierarchy = Hierarchy) => new TenantAttachConfiguration
    {
        TenantId = Tenant,
        SiteCode = "PS1",
        HierarchyId = hierarchy,
        Endpoints = new EndpointSettings { Authority = url, Graph = url, Gateway = url, GatewayUs = url, GatewayEu = url, Aka = url },
        TrustedCaFile = ca,
        StateDir = Path.Combine(dir, "state"),
        LogDir = Path.Combine(dir, "logs"),
        Auth = auth,
    };

    static void Job()
    {
        string url = Environment.GetEnvironmentVariable("TA_CLOUD_URL") ?? "";
        string ca = Environment.GetEnvironmentVariable("TA_CLOUD_CA") ?? "";
        Check(url.Length > 0 && ca.Length > 0, "TA_CLOUD_URL and TA_CLOUD_CA name the local cloud");
        string dir = Path.Combine(Path.GetTempPath(), "ta-nuget-" + Guid.NewGuid().ToString("N"));

        // The native library the package brought, found by the .NET host in this app's bin/runtimes/.
        string version = TenantAttachClient.LibraryVersion;
        Check(version == Environment.GetEnvironmentVariable("TA_EXPECTED_VERSION"), "the library version is the package's (" + version + ")");
        string? mapped = File.ReadLines("/proc/self/maps").Where(l => l.Contains("libtenant_attach")).Select(l => l.Substring(l.IndexOf('/'))).FirstOrDefault();
        string expected = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libtenant_attach.so");
        Check(mapped == expected, "the native library is loaded from the package's runtimes/linux-x64/native copy in the app's folder (" + mapped + ")");

        // A configuration error carries the status, the library's message and its details.
        try
        {
            using (TenantAttachClient.Open("{\"tenantID\":\"x\"}")) { }
            Check(false, "an unknown configuration key is refused");
        }
        catch (TenantAttachException e)
        {
            Check(e.Status == TenantAttachStatus.InvalidConfig && e.StatusName == "TA_STATUS_INVALID_CONFIG" && e.Message.Contains("tenantID")
                && e.Details?.GetProperty("path").GetString() == "tenantID",
                "an unknown configuration key throws TenantAttachException (InvalidConfig, the message and details name it)");
        }

        using TenantAttachClient site = TenantAttachClient.Open(Config(url, ca, dir, AuthSettings.WithClientSecret(SiteApp, SiteSecret)));
        using TenantAttachClient helpdesk = TenantAttachClient.Open(Config(url, ca, dir, AuthSettings.DeviceCode(HelpdeskClient)));
        // The status enum mirrors the interop's (and so the header's) by name and number.
        var raw = Enum.GetValues(typeof(TenantAttach.Interop.TaStatus)).Cast<TenantAttach.Interop.TaStatus>().ToList();
        Check(raw.Count == Enum.GetValues(typeof(TenantAttachStatus)).Length
            && raw.All(s => ((TenantAttachStatus)(int)s).ToString() == s.ToString()), "TenantAttachStatus has the interop's " + raw.Count + " statuses, same names and numbers");
        Check(site.Handle is SafeHandle && !site.Handle.IsInvalid, "the client holds a valid SafeHandle");
        TenantAttachConfiguration effective = site.GetEffectiveConfiguration();
        Check(effective.Auth?.ClientSecret == "***" && effective.Endpoints?.Aka == url && effective.SyncIntervalMinutes == 15 && effective.Timeouts?.MaxAttempts == 6,
            "the effective configuration is typed, with defaults filled in and the secret hidden");

        IReadOnlyList<EndpointCheck> endpoints = site.TestEndpoints();
        Check(endpoints.Count == 6 && endpoints.All(e => e.Reachable && e.HttpStatus != null && e.Url == url),
            "TestEndpoints: " + endpoints.Count + " endpoints checked, each reachable (" + string.Join(", ", endpoints.Select(e => e.Name)) + ")");

        // A Global Administrator creates the app (another hierarchy): the secret comes back once, typed.
        using (TenantAttachClient admin = TenantAttachClient.Open(Config(url, ca, dir, AuthSettings.DeviceCode("c1000000-0000-4000-8000-000000000001"), OtherHierarchy)))
        {
            RegistrationResult created = admin.Register();
            Check(!string.IsNullOrEmpty(created.CreatedApp?.ClientSecret) && created.CreatedApp.ServicePrincipalId != null && created.CreatedApp.SecretExpiry > DateTimeOffset.UtcNow
                && created.AppId != null && created.Onboarding?.HierarchyId == OtherHierarchy,
                "a Global Administrator creates the app by device code; its secret and service principal are in the result");
            OnboardingRecord scoped = admin.SetUploadSettings(new UploadSettings { UploadScope = UploadScope.Collection("PS100012") });
            Check(scoped.UploadScope?.Kind == "collection" && scoped.UploadScope.CollectionId == "PS100012" && scoped.ScopeVersion == 2, "the upload scope changes to a collection (scope version 2)");
            admin.Unregister();
            Check(!admin.GetStatus().Onboarded, "that hierarchy is offboarded");
        }

        // Members a newer library adds are kept, not lost, by the result types.
        SyncReport future = System.Text.Json.JsonSerializer.Deserialize<SyncReport>("{\"uploaded\":3,\"someFutureMember\":{\"a\":1}}",
            new System.Text.Json.JsonSerializerOptions { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase })!;
        Check(future.Uploaded == 3 && future.AdditionalMembers != null && future.AdditionalMembers["someFutureMember"].GetProperty("a").GetInt32() == 1,
            "an unknown member of a result is kept in AdditionalMembers");

        // Onboarding by importing the site's existing app.
        RegistrationResult registered = site.Register(new RegisterOptions
        {
            UploadScope = UploadScope.All,
            Import = new ImportedApp { ClientId = SiteApp, ClientSecret = SiteSecret, SecretExpiry = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero),
                AppIdUri = "api://" + Tenant + "/ConfigMgrService" },
        });
        Check(registered.AppId == SiteApp && registered.CreatedApp == null && registered.Onboarding?.HierarchyId == Hierarchy
            && registered.Onboarding.UploadScope?.Kind == "all", "onboarding by import: app " + registered.AppId + ", scope all");
        OnboardingStatus status = site.GetStatus();
        Check(status.Onboarded && status.Onboarding?.SiteCode == "PS1", "status: onboarded, site PS1");

        // The upload, with progress.
        var devices = new List<DeviceRecord>
        {
            new DeviceRecord { Name = "NUGET-Åre-01", SmsId = "GUID:A9E70001", IsClient = true, DeviceOS = "Microsoft Windows NT Workstation 10.0", Model = "Latitude 7440" },
            new DeviceRecord { Name = "NUGET-02", SmsId = "GUID:A9E70002", IsClient = true },
            new DeviceRecord { Name = "NUGET-NOCLIENT", SmsId = "GUID:A9E70003", IsClient = false },
        };
        var progress = new Recorder();
        SyncReport report = site.SyncDevices(devices, progress: progress);
        Check(report.Kind == "full" && report.Uploaded == 2 && report.Considered == 3 && report.Ineligible == 1 && report.NextRunTime != null,
            $"upload: a full sync, {report.Uploaded} uploaded of {report.Considered} ({report.Ineligible} not a client)");
        Check(progress.Reports.Count > 0 && progress.Reports.Last().Done == progress.Reports.Last().Total && progress.Reports.Last().Total == 3,
            "IProgress<SyncProgress> received " + progress.Reports.Count + " reports, ending at " + (progress.Reports.Count > 0 ? progress.Reports.Last().ToString() : "none"));
        Check(site.SyncDevices(devices).Kind == "delta", "the next upload is a delta");
        try
        {
            site.SyncDevices(new DeviceRecord[0]);
            Check(false, "an empty upload is refused");
        }
        catch (TenantAttachException e)
        {
            Check(e.Status == TenantAttachStatus.DeletionRefused && e.Details?.GetProperty("wouldDelete").GetInt32() == 2,
                "an empty upload throws TenantAttachException (DeletionRefused, Details.wouldDelete = 2)");
        }
        string ndjson = Path.Combine(dir, "devices.ndjson");
        Directory.CreateDirectory(dir);
        File.WriteAllLines(ndjson, new[] { "{\"Name\":\"NUGET-FILE-01\",\"SMSID\":\"GUID:A9E70010\",\"IsClient\":true}" });
        SyncReport fromFile = site.SyncDevicesFile(ndjson, new SyncOptions { Mode = SyncMode.Partial });
        Check(fromFile.Kind == "partial" && fromFile.Uploaded == 1 && fromFile.Deleted == 0, "SyncDevicesFile uploads an NDJSON file (partial: 1 uploaded, none deleted)");

        // An action, as a helpdesk operator signing in by device code.
        DeviceCodePrompt? prompt = null;
        helpdesk.SetDeviceCodeHandler(p => prompt = p);
        ManagedDevice device = helpdesk.ListDevices("deviceName eq 'NUGET-Åre-01'").Single();
        Check(prompt?.UserCode != null && prompt.VerificationUri != null, "the device code prompt reached the handler, typed (code " + prompt?.UserCode + ")");
        Check(device.ManagementAgent == "configurationManagerClient" && device.ConfigurationManagerClientInformation?.ClientIdentifier == "GUID:A9E70001"
            && device.DeviceName == "NUGET-Åre-01", "the device is listed as ConfigMgr-managed, its non-ASCII name intact");
        ActionResult action = helpdesk.TriggerAction(new[] { device.Id! }, DeviceAction.SyncMachinePolicy).Single();
        Check(action.Accepted && action.HttpStatus == 204 && action.ManagedDeviceId == device.Id, "Sync machine policy accepted (204)");
        try
        {
            helpdesk.ListDevices("userId eq '" + HelpdeskUser + "'");
            Check(false, "a filter the service ignored is refused");
        }
        catch (TenantAttachException e)
        {
            Check(e.Status == TenantAttachStatus.InvalidArgument && e.ServiceCode == "FilterNotApplied", "a filter the service ignored throws TenantAttachException (InvalidArgument, FilterNotApplied)");
        }

        // The notification worker: the helpdesk user is discovered by both discoveries.
        var users = new[] { new DiscoveredUser { AadUserId = HelpdeskUser, AdDiscovered = true, AzureAdDiscovered = true } };
        var decisions = new List<NotificationDecision>();
        for (int i = 0; i < 5 && decisions.Count == 0; i++) decisions.AddRange(site.ReceiveNotifications(users, TimeSpan.FromSeconds(5)));
        NotificationDecision? decision = decisions.FirstOrDefault();
        Check(decision != null && decision.Authorized && decision.TemplateId == "RequestMachinePolicy" && decision.TemplateNumber == 1
            && decision.NotificationType == "ClientNotificationRequestMachinePolicyNow" && decision.SmsId == "GUID:A9E70001"
            && decision.InvokeCMClientAction?["NotificationType"] == "RequestMachinePolicyNow",
            "the worker authorizes Sync machine policy: TemplateID RequestMachinePolicy (1), Invoke-CMClientAction -NotificationType RequestMachinePolicyNow");
        if (decision != null)
        {
            CompletionResult done = site.CompleteNotification(decision.NotificationId!, true, null, decision.TaskGuid);
            Check(!done.Duplicate && done.NotificationId == decision.NotificationId && done.Status == "succeeded", "the outcome is reported (succeeded)");
            Check(site.CompleteNotification(decision.NotificationId!, true, null, decision.TaskGuid).Duplicate, "completing twice is harmless (duplicate)");
        }

        // Cancellation: a long poll waiting 30 s for actions stops promptly when its token is cancelled.
        using (var cts = new CancellationTokenSource())
        {
            var clock = Stopwatch.StartNew();
            cts.CancelAfter(TimeSpan.FromSeconds(1));
            try
            {
                site.ReceiveNotifications(users, TimeSpan.FromSeconds(30), cts.Token);
                Check(false, "a cancelled ReceiveNotifications stops");
            }
            catch (OperationCanceledException e)
            {
                Check(clock.Elapsed < TimeSpan.FromSeconds(6) && e.CancellationToken == cts.Token
                    && (e.InnerException == null || (e.InnerException as TenantAttachException)?.Status == TenantAttachStatus.Cancelled),
                    $"ReceiveNotifications waiting 30 s, cancelled after 1 s, throws OperationCanceledException after {clock.Elapsed.TotalSeconds:0.0} s");
            }
        }
        using (var cts = new CancellationTokenSource())
        {
            var clock = Stopwatch.StartNew();
            Task<IReadOnlyList<NotificationDecision>> waiting = site.ReceiveNotificationsAsync(users, TimeSpan.FromSeconds(30), cts.Token);
            Thread.Sleep(500);
            Check(!waiting.IsCompleted, "ReceiveNotificationsAsync is waiting");
            cts.Cancel();
            try
            {
                waiting.GetAwaiter().GetResult();
                Check(false, "a cancelled ReceiveNotificationsAsync stops");
            }
            catch (OperationCanceledException)
            {
                Check(waiting.IsCanceled && clock.Elapsed < TimeSpan.FromSeconds(6),
                    $"ReceiveNotificationsAsync's task is cancelled {clock.Elapsed.TotalSeconds:0.0} s after it started");
            }
        }
        // An upload cancelled from its own progress: it stops, and the next one converges.
        var many = Enumerable.Range(0, 3000).Select(i => new DeviceRecord { Name = "NUGET-BULK-" + i, SmsId = "GUID:A9E8" + i.ToString("D5"), IsClient = true }).ToList();
        using (var cts = new CancellationTokenSource())
        {
            var stopper = new Recorder { Then = p => cts.Cancel() };
            try
            {
                site.SyncDevices(many, new SyncOptions { Mode = SyncMode.Partial, MaxRecords = 100 }, stopper, cts.Token);
                Check(false, "an upload cancelled from its progress stops");
            }
            catch (OperationCanceledException e)
            {
                Check((e.InnerException as TenantAttachException)?.Status == TenantAttachStatus.Cancelled && e.CancellationToken == cts.Token,
                    "the native upload itself stopped on the token (OperationCanceledException, inner TenantAttachException Cancelled)");
                Check(stopper.Reports.Count >= 1 && stopper.Reports.Count < 30, "an upload cancelled at its first progress report stops (" + stopper.Reports.Count + " reports of 30 batches)");
            }
        }
        SyncReport rest = site.SyncDevices(many, new SyncOptions { Mode = SyncMode.Partial, MaxRecords = 100 });
        Check(rest.Uploaded + rest.Unchanged == 3000, $"the next upload converges ({rest.Uploaded} uploaded, {rest.Unchanged} unchanged)");

        site.Unregister();
        Check(!site.GetStatus().Onboarded, "offboarded");
        try
        {
            site.SyncDevices(devices);
            Check(false, "an upload after offboarding is refused");
        }
        catch (TenantAttachException e)
        {
            Check(e.Status == TenantAttachStatus.NotOnboarded, "an upload after offboarding throws TenantAttachException (NotOnboarded)");
        }
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }
}
