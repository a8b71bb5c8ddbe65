// The C# interop file (powershell/TenantAttach/TenantAttach.Interop.cs) against the real library,
// compiled with mono's mcs in C# 5 mode, as Windows PowerShell 5.1 compiles it. Prints TAP lines.
// The library path comes from TENANT_ATTACH_LIBRARY (absolute), loaded as the module loads it.
// This file holds Main and the interop checks; every other file here adds a suite by defining a
// public static class with public static void Run(Action<bool, string> check), found by reflection.

using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using TenantAttach.Interop;

public static class InteropTests
{
    private static int count;
    private static int failed;

    private static void Check(bool condition, string what)
    {
        count++;
        if (condition) Console.WriteLine("ok " + count + " - " + what);
        else
        {
            failed++;
            Console.WriteLine("not ok " + count + " - " + what);
        }
    }

    /// <summary>Opens with the given config, expecting a refusal; returns the exception.</summary>
    private static TenantAttachException Refused(string json)
    {
        try
        {
            using (TenantAttachClient.Open(json)) { }
        }
        catch (TenantAttachException e)
        {
            return e;
        }
        return null;
    }

    private static void ExpectRefused(string what, string json, TaStatus status, string phrase)
    {
        TenantAttachException e = Refused(json);
        Check(e != null && e.Status == status, what + " -> " + status);
        Check(e != null && e.Message.Contains(phrase) && e.ErrorJson.Contains(e.StatusName),
            what + ": the message says \"" + phrase + "\"" + (e == null ? "" : " (" + e.Message + ")"));
    }

    public static int Main()
    {
        string library = Environment.GetEnvironmentVariable("TENANT_ATTACH_LIBRARY");
        if (string.IsNullOrEmpty(library))
        {
            Console.WriteLine("not ok 1 - TENANT_ATTACH_LIBRARY must name the built library");
            return 1;
        }
        NativeLibraryLoader.Load(Path.GetFullPath(library));
        Check(NativeLibraryLoader.LoadedPath != null, "the library loads from its absolute path");
        return Run();
    }

    /// <summary>
    /// Every other test file is found here, so adding one needs no edit elsewhere: each public static
    /// class with a public static Run(Action&lt;bool, string&gt;) is a suite, run in name order after the
    /// checks above. A suite that throws is one failure and the next suite still runs.
    /// </summary>
    private static void RunDiscoveredSuites()
    {
        List<Type> suites = new List<Type>();
        foreach (Type type in typeof(InteropTests).Assembly.GetTypes())
        {
            if (type.GetMethod("Run", BindingFlags.Public | BindingFlags.Static, null, new Type[] { typeof(Action<bool, string>) }, null) != null)
                suites.Add(type);
        }
        suites.Sort(delegate (Type a, Type b) { return string.CompareOrdinal(a.FullName, b.FullName); });
        Action<bool, string> check = Check;
        foreach (Type suite in suites)
        {
            Console.WriteLine("# " + suite.FullName);
            MethodInfo run = suite.GetMethod("Run", BindingFlags.Public | BindingFlags.Static, null, new Type[] { typeof(Action<bool, string>) }, null);
            try
            {
                run.Invoke(null, new object[] { check });
            }
            catch (TargetInvocationException wrapped)
            {
                Exception e = wrapped.InnerException ?? wrapped;
                TenantAttachException ta = e as TenantAttachException;
                Check(false, suite.Name + " stopped: " + (ta != null ? ta.StatusName + ": " + ta.Message : e.ToString()));
            }
        }
        Check(suites.Count > 0, "test suites found besides these checks: " + suites.Count);
    }

    // Separate from Main: mono binds a method's P/Invokes when it compiles the method, so nothing
    // that calls the library may be compiled before NativeLibraryLoader.Load has run.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static int Run()
    {
        Check(TenantAttachClient.Version.Length > 0 && char.IsDigit(TenantAttachClient.Version[0]),
            "ta_version: " + TenantAttachClient.Version);

        // TaStatus mirrors ta_status: each value has the library's name for it, and the value after
        // the last one is unknown to the library (a status added in C but not here fails this).
        int highest = 0;
        string mismatch = "";
        foreach (TaStatus s in Enum.GetValues(typeof(TaStatus)))
        {
            string native = Utf8.Decode(NativeMethods.ta_status_name((int)s));
            if (native != TenantAttachException.NameOf(s)) mismatch += " " + (int)s + ":" + native + "/" + TenantAttachException.NameOf(s);
            highest = Math.Max(highest, (int)s);
        }
        Check(mismatch.Length == 0, "every TaStatus value has the name ta_status_name gives it" + mismatch);
        string next = Utf8.Decode(NativeMethods.ta_status_name(highest + 1));
        Check(next == "TA_STATUS_UNKNOWN", "TaStatus covers every status of the library (" + (highest + 1) + " is " + next + ")");

        // A NULL config through the raw export.
        IntPtr raw;
        int status = NativeMethods.ta_client_open_raw(IntPtr.Zero, out raw);
        Check(status == (int)TaStatus.InvalidArgument && raw == IntPtr.Zero, "NULL config -> InvalidArgument");
        TenantAttachException nullError = TenantAttachException.FromLastError(status);
        Check(nullError.Message.Contains("config_json"), "the NULL error names the argument: " + nullError.Message);

        // Invalid UTF-8 through raw bytes: "{"siteCode":"P<FF>"}".
        byte[] bad = new byte[] { 0x7b, 0x22, 0x73, 0x69, 0x74, 0x65, 0x43, 0x6f, 0x64, 0x65, 0x22, 0x3a, 0x22, 0x50, 0xff, 0x22, 0x7d, 0 };
        GCHandle pin = GCHandle.Alloc(bad, GCHandleType.Pinned);
        try
        {
            status = NativeMethods.ta_client_open_raw(pin.AddrOfPinnedObject(), out raw);
        }
        finally
        {
            pin.Free();
        }
        Check(status == (int)TaStatus.InvalidUtf8, "invalid UTF-8 -> InvalidUtf8");
        Check(TenantAttachException.FromLastError(status).Message.Contains("UTF-8"), "the UTF-8 error explains itself");

        ExpectRefused("malformed JSON", "{\"siteCode\": \"PS1\",", TaStatus.InvalidJson, "line 1");
        ExpectRefused("an unknown key", "{\"siteCode\":\"PS1\",\"sitecode\":\"PS2\"}", TaStatus.InvalidConfig, "sitecode");
        ExpectRefused("AzureUSGovernment",
            "{\"cloud\":\"AzureUSGovernment\",\"tenantId\":\"72f988bf-86f1-41af-91ab-2d7cd011db47\"}",
            TaStatus.UnsupportedCloud, "AzurePublicCloud");

        // A panic inside an export: the status comes back and the process lives on.
        status = NativeMethods.ta_test_panic();
        Check(status == (int)TaStatus.Panic, "a panic inside an export -> Panic");
        Check(TenantAttachException.FromLastError(status).StatusName == "TA_STATUS_PANIC", "the panic is explained");

        // Non-ASCII text both ways: a log folder named in Swedish, and a value echoed back.
        string root = Path.Combine(Path.GetTempPath(), "ta-cs-" + Guid.NewGuid().ToString("N"));
        string logDir = Path.Combine(root, "Ladda upp enheter åäö");
        string config = "{\"siteCode\":\"PS1\",\"logDir\":\"" + logDir.Replace("\\", "\\\\") + "\"}";
        using (TenantAttachClient client = TenantAttachClient.Open(config))
        {
            Check(File.Exists(Path.Combine(logDir, "TenantAttach.log")), "the log is written in a folder named Ladda upp enheter åäö");
            Check(client.ConfigJson.Contains("Ladda upp enheter åäö"), "the effective configuration returns the name intact");
            string log = File.ReadAllText(Path.Combine(logDir, "TenantAttach.log"), Encoding.UTF8);
            Check(log.StartsWith("<![LOG[") && log.Contains("Ladda upp enheter åäö"), "the CMTrace log holds the UTF-8 text");
        }
        TenantAttachException named = Refused("{\"siteCode\":\"PS1\",\"Ladda upp enheter åäö\":1}");
        Check(named != null && named.Message.Contains("Ladda upp enheter åäö"), "a non-ASCII unknown key is named intact in the error");

        // Secrets never come back: not in the effective configuration, not in an error.
        string auth = "\"auth\":{\"kind\":\"clientSecret\",\"clientId\":\"0d6f1b1e-8f3c-4c3a-9d0e-1a2b3c4d5e6f\",\"clientSecret\":\"Zq8~cs.test.secret.value\"";
        using (TenantAttachClient withSecret = TenantAttachClient.Open("{\"siteCode\":\"PS1\"," + auth + "}}"))
        {
            string effective = withSecret.ConfigJson;
            Check(effective.Contains("\"clientSecret\":\"***\"") && !effective.Contains("cs.test.secret"),
                "the effective configuration shows the client secret as ***");
        }
        TenantAttachException leaky = Refused("{\"siteCode\":\"PS1\"," + auth + ",\"tenant\":1}}");
        Check(leaky != null && leaky.Status == TaStatus.InvalidConfig && !leaky.ErrorJson.Contains("cs.test.secret"),
            "an error about a configuration holding a secret does not echo it");

        // One client shared by threads.
        using (TenantAttachClient shared = TenantAttachClient.Open("{\"siteCode\":\"PS1\"}"))
        {
            int errors = 0;
            Thread[] threads = new Thread[8];
            for (int t = 0; t < threads.Length; t++)
            {
                threads[t] = new Thread(delegate ()
                {
                    for (int i = 0; i < 50; i++)
                    {
                        if (!shared.ConfigJson.Contains("PS1")) Interlocked.Increment(ref errors);
                    }
                });
                threads[t].Start();
            }
            foreach (Thread t in threads) t.Join();
            Check(errors == 0, "8 threads share one client");
        }

        // The error's members without a JSON reader: what the exceptions are built from.
        IntPtr none;
        int openStatus = NativeMethods.ta_client_open_raw(IntPtr.Zero, out none);
        Check(openStatus == (int)TaStatus.InvalidArgument && NativeMethods.ta_last_error_status() == openStatus, "ta_last_error_status is the failed call's status");
        string kind = Utf8.TakeOwned(NativeMethods.ta_last_error_member(Utf8.Encode("kind")));
        string message = Utf8.TakeOwned(NativeMethods.ta_last_error_message());
        Check(kind == "invalid_argument" && message != null && message.Contains("config_json"), "ta_last_error_message and _member read the error: " + kind);
        Check(NativeMethods.ta_last_error_member(Utf8.Encode("nonsense")) == IntPtr.Zero && NativeMethods.ta_last_error_member(null) == IntPtr.Zero,
            "an unknown member or NULL gives NULL");
        Check(NativeMethods.ta_abi_version() == 1, "ta_abi_version() is 1");
        using (TenantAttachClient ok = TenantAttachClient.Open("{\"siteCode\":\"PS1\"}"))
        {
            Check(NativeMethods.ta_last_error_status() == 0 && NativeMethods.ta_last_error_message() == IntPtr.Zero, "after a success there is no last error");
        }

        try { Directory.Delete(root, true); } catch (IOException) { }

        RunDiscoveredSuites();
        Console.WriteLine("# " + count + " tests, " + (count - failed) + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }
}
