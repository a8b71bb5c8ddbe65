// The end-to-end scenario from C#, with the same interop file the PowerShell module loads:
// onboard the site (importing its app), upload devices, run App evaluation cycle as a helpdesk
// operator, receive and complete it as the site.
//
//   mcs -out:demo.exe powershell/TenantAttach/TenantAttach.Interop.cs examples/csharp/Demo.cs
//   TENANT_ATTACH_LIBRARY=$PWD/target/debug/libtenant_attach.so TA_CLOUD_URL=... TA_CLOUD_CA=... mono demo.exe

using System;
using TenantAttach.Interop;

public static class Demo
{
    static string Config(string url, string ca, string auth)
    {
        return "{\"tenantId\":\"contoso.onmicrosoft.com\",\"siteCode\":\"PS1\",\"hierarchyId\":\"5f0c1a6e-0000-4000-8000-0000000e0c05\","
            + "\"endpoints\":{\"authority\":\"" + url + "\",\"graph\":\"" + url + "\",\"gateway\":\"" + url + "\"},\"trustedCaFile\":\"" + ca + "\","
            + "\"stateDir\":\"/tmp/ta-cs-demo/state\",\"logDir\":\"/tmp/ta-cs-demo/logs\",\"auth\":" + auth + "}";
    }

    static string After(string text, string key)
    {
        int i = text.IndexOf("\"" + key + "\":\"", StringComparison.Ordinal);
        if (i < 0) return null;
        i += key.Length + 4;
        return text.Substring(i, text.IndexOf('"', i) - i);
    }

    public static int Main()
    {
        NativeLibraryLoader.Load(Environment.GetEnvironmentVariable("TENANT_ATTACH_LIBRARY"));
        return Run();
    }

    // Separate from Main: mono binds P/Invokes when it compiles a method, after Load has run.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static int Run()
    {
        string url = Environment.GetEnvironmentVariable("TA_CLOUD_URL");
        string ca = Environment.GetEnvironmentVariable("TA_CLOUD_CA");
        try
        {
            using (TenantAttachClient site = TenantAttachClient.Open(Config(url, ca, "{\"kind\":\"clientSecret\",\"clientId\":\"e0000000-0000-4000-8000-00000000c0de\",\"clientSecret\":\"c-tests~site.secret.0001\"}")))
            using (TenantAttachClient helpdesk = TenantAttachClient.Open(Config(url, ca, "{\"kind\":\"deviceCode\",\"clientId\":\"c1000000-0000-4000-8000-000000000002\"}")))
            {
                Console.WriteLine("tenant-attach " + TenantAttachClient.Version);
                site.Register("{\"import\":{\"clientId\":\"e0000000-0000-4000-8000-00000000c0de\",\"clientSecret\":\"c-tests~site.secret.0001\","
                    + "\"secretExpiry\":\"2030-01-01T00:00:00Z\",\"appIdUri\":\"api://c0ffee00-0000-4000-8000-000000000001/ConfigMgrService\"}}");
                Console.WriteLine("onboarded");
                string report = site.SyncDevices("[{\"Name\":\"DEMO-Åre-01\",\"SMSID\":\"GUID:DE0C5001\",\"IsClient\":true}]", null,
                    delegate (ulong done, ulong total) { Console.WriteLine("  progress " + done + "/" + total); });
                Console.WriteLine("upload report: " + report);
                helpdesk.SetDeviceCodeCallback(delegate (string prompt) { Console.WriteLine("sign-in: " + prompt); });
                string id = After(helpdesk.ListDevices("deviceName eq 'DEMO-Åre-01'"), "id");
                Console.WriteLine("triggered: " + helpdesk.TriggerAction("[\"" + id + "\"]", "AppEvaluationCycle"));
                string decisions = site.ReceiveNotifications("[{\"aadUserId\":\"a0000000-0000-4000-8000-000000000002\",\"adDiscovered\":true,\"azureAdDiscovered\":true}]", 10);
                Console.WriteLine("received: " + decisions);
                Console.WriteLine("completed: " + site.CompleteNotification(After(decisions, "notificationId"), true, null, After(decisions, "taskGuid")));
                site.Unregister();
                Console.WriteLine("offboarded");
            }
            return 0;
        }
        catch (TenantAttachException e)
        {
            Console.Error.WriteLine(e.StatusName + ": " + e.Message);
            return 1;
        }
    }
}
