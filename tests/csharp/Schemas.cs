// Validation of real outputs against the committed JSON Schemas (include/schemas/), through the
// library's test hook ta_test_validate_json (builds with the test-hooks feature): the C# tests need
// no JSON library of their own. Not a suite (no Run): E2eTests calls it on what it gets back.

using System;
using System.Runtime.InteropServices;
using TenantAttach.Interop;

public static class Schemas
{
    [DllImport(NativeMethods.Library, CallingConvention = CallingConvention.Cdecl)]
    static extern int ta_test_validate_json(byte[] schemaName, byte[] json);

    /// <summary>Null when `json` conforms to the schema `name`, else the library's error JSON
    /// (every violation in details.errors).</summary>
    public static string Violations(string name, string json)
    {
        int status = ta_test_validate_json(Utf8.Encode(name), Utf8.Encode(json));
        if (status == 0) return null;
        return TenantAttachException.FromLastError(status).ErrorJson ?? ("status " + status);
    }

    /// <summary>Checks that `json` (a real output of `what`) conforms to the schema `name`.</summary>
    public static void Check(Action<bool, string> check, string name, string json, string what)
    {
        string why = json == null ? "no JSON" : Violations(name, json);
        check(why == null, "C#: " + what + " conforms to the schema " + name + (why == null ? "" : " (" + why + ")"));
    }
}
