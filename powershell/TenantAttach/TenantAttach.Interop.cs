// TenantAttach.Interop.cs: the one P/Invoke layer over the native tenant_attach library, shared by
// the TenantAttach PowerShell module (Add-Type) and by C# tools (compile this file in as-is).
//
// Written in C# 5 so that Windows PowerShell 5.1's Add-Type compiles it; also compiles with mono's
// mcs and with PowerShell 7's Roslyn. No dependency beyond mscorlib and System.
//
// Strings: every string crosses as NUL-terminated UTF-8 that this file encodes and decodes itself
// (never LPStr, which is the ANSI code page on Windows). Every string the library returns is copied
// and then released with ta_string_free in a finally block.
//
// Loading: the DllImport name is "tenant_attach". NativeLibraryLoader.Load(path) first loads the
// library from an absolute path (LoadLibraryW on Windows, dlopen on Linux and macOS); the runtimes
// then resolve "tenant_attach" to that already-loaded module: .NET through a DllImport resolver
// registered by Load, Windows PowerShell by the module name; elsewhere the library must also be
// on the search path (its SONAME, libtenant_attach.so.1, carries the ABI major). The module calls
// Load with its bin/<os>-<arch>/ copy; tests call it with the freshly built library.
//
// JSON: results are returned as raw JSON strings for the caller to parse (PowerShell's
// ConvertFrom-Json, System.Text.Json, Json.NET...), because neither edition of PowerShell offers a
// JSON parser that the other also has. This file reads no JSON: an exception's members come from
// ta_last_error_message and ta_last_error_member, and its ErrorJson is ta_last_error_json as is.

using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace TenantAttach.Interop
{
    /// <summary>Mirrors ta_status in tenant_attach.h: same names, same numbers.</summary>
    public enum TaStatus
    {
        Ok = 0,
        InvalidArgument = 1,
        InvalidUtf8 = 2,
        InvalidJson = 3,
        InvalidConfig = 4,
        UnsupportedCloud = 5,
        UnsupportedAction = 6,
        NotOnboarded = 7,
        AuthFailed = 8,
        Forbidden = 9,
        NotFound = 10,
        Conflict = 11,
        Throttled = 12,
        Network = 13,
        Tls = 14,
        Timeout = 15,
        Server = 16,
        StateLocked = 17,
        StateCorrupt = 18,
        Cancelled = 19,
        Io = 20,
        Expired = 21,
        Internal = 22,
        Panic = 23,
        DeletionRefused = 24,
        CallbackReentry = 25
    }

    /// <summary>ta_progress_fn: progress of a long call, on the calling thread.</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void ProgressCallback(IntPtr user, ulong done, ulong total);

    /// <summary>ta_device_code_fn: the device code sign-in's instructions as JSON.</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void DeviceCodeCallback(IntPtr user, IntPtr promptJson);

    /// <summary>The raw exports. Strings are byte[] (UTF-8, NUL-terminated) in and IntPtr out.</summary>
    public static class NativeMethods
    {
        public const string Library = "tenant_attach";

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr ta_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr ta_status_name(int status);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr ta_last_error_json();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr ta_last_error_message();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr ta_last_error_member(byte[] name);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_last_error_status();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint ta_abi_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void ta_string_free(IntPtr s);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_open(byte[] configJson, out ClientHandle client);

        /// <summary>The same export taking a raw pointer, so tests can pass NULL.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "ta_client_open")]
        public static extern int ta_client_open_raw(IntPtr configJson, out IntPtr client);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void ta_client_free(IntPtr client);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_config_json(ClientHandle client, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr ta_cancel_new();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void ta_cancel_set(IntPtr cancel);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void ta_cancel_free(IntPtr cancel);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_set_device_code_callback(ClientHandle client, DeviceCodeCallback callback, IntPtr user);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_register(ClientHandle client, byte[] optionsJson, IntPtr cancel, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_status(ClientHandle client, IntPtr cancel, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_set_upload_settings(ClientHandle client, byte[] settingsJson, IntPtr cancel, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_unregister(ClientHandle client, IntPtr cancel);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_sync_devices(ClientHandle client, byte[] devicesJson, byte[] optionsJson, ProgressCallback progress, IntPtr user, IntPtr cancel, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_sync_devices_file(ClientHandle client, byte[] path, byte[] optionsJson, ProgressCallback progress, IntPtr user, IntPtr cancel, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_list_devices(ClientHandle client, byte[] filter, IntPtr cancel, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_trigger_action(ClientHandle client, byte[] deviceIdsJson, byte[] action, IntPtr cancel, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_receive_notifications(ClientHandle client, byte[] discoveredUsersJson, uint timeoutSeconds, IntPtr cancel, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_complete_notification(ClientHandle client, byte[] notificationId, int succeeded, byte[] reason, byte[] taskGuid, IntPtr cancel, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_client_test_endpoints(ClientHandle client, out IntPtr json);

        /// <summary>Only in libraries built with the test-hooks feature.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int ta_test_panic();
    }

    /// <summary>Loads the native library from an absolute path before the first call.</summary>
    public static class NativeLibraryLoader
    {
        private static readonly object Gate = new object();
        private static string loadedPath;

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        private static extern IntPtr LoadLibraryW(string path);

        [DllImport("libdl.so.2", EntryPoint = "dlopen")]
        private static extern IntPtr dlopen_glibc(byte[] path, int flags);

        [DllImport("libdl.so.2", EntryPoint = "dlerror")]
        private static extern IntPtr dlerror_glibc();

        [DllImport("libSystem.dylib", EntryPoint = "dlopen")]
        private static extern IntPtr dlopen_mac(byte[] path, int flags);

        [DllImport("libSystem.dylib", EntryPoint = "dlerror")]
        private static extern IntPtr dlerror_mac();

        private const int RTLD_NOW = 2;
        private const int RTLD_GLOBAL = 0x100;

        /// <summary>The path loaded, or null.</summary>
        public static string LoadedPath { get { return loadedPath; } }

        /// <summary>Loads the library at <paramref name="path"/> (absolute); idempotent.</summary>
        public static void Load(string path)
        {
            if (path == null) throw new ArgumentNullException("path");
            if (!System.IO.Path.IsPathRooted(path))
                throw new ArgumentException("The native library path must be absolute: " + path, "path");
            if (!System.IO.File.Exists(path))
                throw new System.IO.FileNotFoundException("The native tenant_attach library is not at " + path
                    + ". Reinstall the TenantAttach module or build the library (cargo build -p tenant-attach).", path);
            lock (Gate)
            {
                if (loadedPath != null) return;
                IntPtr handle;
                string why = "";
                if (Environment.OSVersion.Platform == PlatformID.Win32NT)
                {
                    handle = LoadLibraryW(path);
                    if (handle == IntPtr.Zero) why = "Windows error " + Marshal.GetLastWin32Error();
                }
                else if (IsMac())
                {
                    handle = dlopen_mac(Utf8.Encode(path), RTLD_NOW | RTLD_GLOBAL);
                    if (handle == IntPtr.Zero) why = Utf8.Decode(dlerror_mac());
                }
                else
                {
                    handle = dlopen_glibc(Utf8.Encode(path), RTLD_NOW | RTLD_GLOBAL);
                    if (handle == IntPtr.Zero) why = Utf8.Decode(dlerror_glibc());
                }
                if (handle == IntPtr.Zero)
                    throw new DllNotFoundException("Cannot load " + path + ": " + why);
                loadedHandle = handle;
                loadedPath = path;
                RegisterResolver();
            }
        }

        private static IntPtr loadedHandle;

        /// <summary>On .NET (Core) 3 and later, DllImport("tenant_attach") resolves to the handle Load
        /// got, whatever the library's file name or SONAME. Found by reflection: Windows PowerShell's
        /// .NET Framework and mono have no NativeLibrary, and this file compiles as C# 5 for them.</summary>
        private static void RegisterResolver()
        {
            Type nativeLibrary = Type.GetType("System.Runtime.InteropServices.NativeLibrary");
            Type resolverType = Type.GetType("System.Runtime.InteropServices.DllImportResolver");
            if (nativeLibrary == null || resolverType == null) return;
            System.Reflection.MethodInfo set = nativeLibrary.GetMethod("SetDllImportResolver",
                new Type[] { typeof(System.Reflection.Assembly), resolverType });
            System.Reflection.MethodInfo resolve = typeof(NativeLibraryLoader).GetMethod("Resolve",
                System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
            if (set == null || resolve == null) return;
            try
            {
                set.Invoke(null, new object[] { typeof(NativeMethods).Assembly, Delegate.CreateDelegate(resolverType, resolve) });
            }
            catch (System.Reflection.TargetInvocationException)
            {
                // The assembly already has a resolver (its host's own): the search path applies.
            }
        }

        private static IntPtr Resolve(string name, System.Reflection.Assembly assembly, DllImportSearchPath? searchPath)
        {
            return name == NativeMethods.Library ? loadedHandle : IntPtr.Zero;
        }

        private static bool IsMac()
        {
            return Environment.OSVersion.Platform == PlatformID.MacOSX
                || System.IO.Directory.Exists("/System/Library/CoreServices");
        }
    }

    /// <summary>UTF-8 marshalling done by hand, identical on every runtime.</summary>
    public static class Utf8
    {
        /// <summary>NUL-terminated UTF-8. A string holding NUL cannot cross a C boundary intact.</summary>
        public static byte[] Encode(string text)
        {
            if (text == null) return null;
            if (text.IndexOf('\0') >= 0)
                throw new ArgumentException("The text contains a NUL character, which C strings cannot hold.");
            byte[] bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// <summary>Reads a NUL-terminated UTF-8 string; does not free it.</summary>
        public static string Decode(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int length = 0;
            while (Marshal.ReadByte(p, length) != 0) length++;
            byte[] bytes = new byte[length];
            Marshal.Copy(p, bytes, 0, length);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>Reads a string the library allocated and frees it, whatever happens.</summary>
        public static string TakeOwned(IntPtr p)
        {
            try { return Decode(p); }
            finally { if (p != IntPtr.Zero) NativeMethods.ta_string_free(p); }
        }
    }

    /// <summary>An open ta_client; released with ta_client_free.</summary>
    public sealed class ClientHandle : SafeHandle
    {
        public ClientHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            NativeMethods.ta_client_free(handle);
            return true;
        }
    }

    /// <summary>A failed call: the status and the library's explanation (ta_last_error_json).</summary>
    public class TenantAttachException : Exception
    {
        private readonly TaStatus status;
        private readonly string kind;
        private readonly int? httpStatus;
        private readonly string requestId;
        private readonly string serviceCode;
        private readonly string details;
        private readonly string errorJson;

        public TenantAttachException(TaStatus status, string message, string kind, int? httpStatus,
            string requestId, string serviceCode, string details, string errorJson)
            : base(message)
        {
            this.status = status;
            this.kind = kind;
            this.httpStatus = httpStatus;
            this.requestId = requestId;
            this.serviceCode = serviceCode;
            this.details = details;
            this.errorJson = errorJson;
        }

        public TaStatus Status { get { return status; } }
        /// <summary>"TA_STATUS_INVALID_CONFIG" and so on, as in the header.</summary>
        public string StatusName { get { return NameOf(status); } }

        /// <summary>The header's name of a status: TaStatus.InvalidConfig is "TA_STATUS_INVALID_CONFIG".</summary>
        public static string NameOf(TaStatus status)
        {
            return "TA_STATUS_" + ToUpperSnake(status.ToString());
        }
        public string Kind { get { return kind; } }
        public int? HttpStatus { get { return httpStatus; } }
        public string RequestId { get { return requestId; } }
        /// <summary>The service's own error code (e.g. AADSTS7000215), when there was one.</summary>
        public string ServiceCode { get { return serviceCode; } }
        /// <summary>Extra details as raw JSON, or null.</summary>
        public string Details { get { return details; } }
        /// <summary>The whole error as the library gave it.</summary>
        public string ErrorJson { get { return errorJson; } }

        /// <summary>The exception for a non-OK status, read from this thread's last error.</summary>
        public static TenantAttachException FromLastError(int status)
        {
            string json = Utf8.TakeOwned(NativeMethods.ta_last_error_json());
            TaStatus typed = Enum.IsDefined(typeof(TaStatus), status) ? (TaStatus)status : TaStatus.Internal;
            if (json == null)
                return new TenantAttachException(typed, "The call failed with status " + status + " and no explanation.",
                    null, null, null, null, null, null);
            string message = Utf8.TakeOwned(NativeMethods.ta_last_error_message()) ?? ("The call failed with status " + status + ".");
            string http = Member("httpStatus");
            int parsed;
            int? httpStatus = http != null && int.TryParse(http, out parsed) ? (int?)parsed : null;
            return new TenantAttachException(typed, message, Member("kind"), httpStatus,
                Member("requestId"), Member("serviceCode"), Member("details"), json);
        }

        private static string Member(string name)
        {
            return Utf8.TakeOwned(NativeMethods.ta_last_error_member(Utf8.Encode(name)));
        }

        private static string ToUpperSnake(string name)
        {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < name.Length; i++)
            {
                if (i > 0 && char.IsUpper(name[i])) sb.Append('_');
                sb.Append(char.ToUpperInvariant(name[i]));
            }
            return sb.ToString();
        }
    }

    /// <summary>A managed tenant attach client over ta_client.</summary>
    public sealed class TenantAttachClient : IDisposable
    {
        private readonly ClientHandle handle;

        private TenantAttachClient(ClientHandle handle)
        {
            this.handle = handle;
        }

        /// <summary>The library version (ta_version).</summary>
        public static string Version { get { return Utf8.Decode(NativeMethods.ta_version()); } }

        /// <summary>Opens a client from configuration JSON (docs/CONFIGURATION.md).</summary>
        public static TenantAttachClient Open(string configJson)
        {
            if (configJson == null) throw new ArgumentNullException("configJson");
            ClientHandle h;
            int status = NativeMethods.ta_client_open(Utf8.Encode(configJson), out h);
            if (status != 0)
            {
                if (h != null) h.SetHandleAsInvalid();
                throw TenantAttachException.FromLastError(status);
            }
            return new TenantAttachClient(h);
        }

        /// <summary>The effective configuration as JSON, secrets shown as "***".</summary>
        public string ConfigJson
        {
            get
            {
                IntPtr json;
                Check(NativeMethods.ta_client_config_json(handle, out json));
                return Utf8.TakeOwned(json);
            }
        }

        public ClientHandle Handle { get { return handle; } }

        // Kept referenced for as long as the library may call them.
        private DeviceCodeCallback deviceCodeCallback;

        // An exception thrown by a caller's callback, held until the native call returns: an
        // exception must never unwind through the library's frames. Callbacks run on the thread of
        // the call that makes them, so the holder is per thread, and so per call.
        [ThreadStatic]
        private static Exception callbackError;
        private readonly object callbackGate = new object();
        // The device code delegates handed to the library that a running call may still call (one
        // that was replaced while calls ran), alive until those calls have returned; then only the
        // current one is kept (each NativeCall sets its own: keeping them all would keep every
        // call's result alive for the client's lifetime).
        private readonly List<DeviceCodeCallback> keptCallbacks = new List<DeviceCodeCallback>();
        private int runningCalls;

        private void ForgetReplacedCallbacks()
        {
            // Under callbackGate.
            if (runningCalls != 0) return;
            keptCallbacks.Clear();
            if (deviceCodeCallback != null) keptCallbacks.Add(deviceCodeCallback);
        }

        private static void HoldCallbackError(Exception e)
        {
            if (callbackError == null) callbackError = e;
        }

        private static void RethrowCallbackError()
        {
            Exception e = callbackError;
            callbackError = null;
            if (e != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
        }

        /// <summary>Shows the device code sign-in's instructions (JSON: verificationUri, userCode,
        /// message, expiresIn) through <paramref name="show"/>, on the thread of the call signing in.
        /// An exception it throws is caught there and rethrown when that call returns.</summary>
        public void SetDeviceCodeCallback(Action<string> show)
        {
            DeviceCodeCallback callback = null;
            if (show != null)
            {
                callback = delegate (IntPtr user, IntPtr json)
                {
                    try { show(Utf8.Decode(json)); }
                    catch (Exception e) { HoldCallbackError(e); }
                };
            }
            lock (callbackGate)
            {
                if (callback != null) keptCallbacks.Add(callback);
                Check(NativeMethods.ta_client_set_device_code_callback(handle, callback, IntPtr.Zero));
                deviceCodeCallback = callback;
                ForgetReplacedCallbacks();
            }
        }

        /// <summary>Runs a call that writes JSON, with cancellation through a ta_cancel flag.</summary>
        private delegate int JsonCall(IntPtr cancel, out IntPtr json);

        private string CallJson(JsonCall call, CancellationToken token)
        {
            IntPtr cancel = NativeMethods.ta_cancel_new();
            lock (callbackGate) runningCalls++;
            try
            {
                using (token.Register(delegate { NativeMethods.ta_cancel_set(cancel); }))
                {
                    IntPtr json = IntPtr.Zero;
                    IntPtr outer = currentCancel;
                    currentCancel = cancel;
                    callbackError = null;
                    int status;
                    try { status = call(cancel, out json); }
                    finally { currentCancel = outer; }
                    // The result is taken (and freed) first; then a callback's exception, which
                    // explains the call's end better than its status, reaches the caller.
                    string text = status == 0 ? Utf8.TakeOwned(json) : null;
                    RethrowCallbackError();
                    if (status != 0) throw TenantAttachException.FromLastError(status);
                    return text;
                }
            }
            finally
            {
                NativeMethods.ta_cancel_free(cancel);
                lock (callbackGate)
                {
                    runningCalls--;
                    ForgetReplacedCallbacks();
                }
            }
        }

        // The cancel flag of the call in progress on this thread, so that a throwing callback can stop it.
        [ThreadStatic]
        private static IntPtr currentCancel;

        /// <summary>Onboards the hierarchy (options JSON or null for defaults); the result JSON holds a
        /// created app's secret once.</summary>
        public string Register(string optionsJson, CancellationToken token = default(CancellationToken))
        {
            byte[] options = Utf8.Encode(optionsJson);
            return CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_register(handle, options, c, out j); }, token);
        }

        public string Status(CancellationToken token = default(CancellationToken))
        {
            return CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_status(handle, c, out j); }, token);
        }

        public string SetUploadSettings(string settingsJson, CancellationToken token = default(CancellationToken))
        {
            byte[] settings = Utf8.Encode(settingsJson);
            return CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_set_upload_settings(handle, settings, c, out j); }, token);
        }

        public void Unregister(CancellationToken token = default(CancellationToken))
        {
            CallJson(delegate (IntPtr c, out IntPtr j) { j = IntPtr.Zero; return NativeMethods.ta_client_unregister(handle, c); }, token);
        }

        /// <summary>The caller's progress as the library's callback. An exception it throws is caught
        /// (never unwound through the library), cancels the call and is rethrown when it returns.</summary>
        private ProgressCallback Progress(Action<ulong, ulong> progress)
        {
            if (progress == null) return null;
            return delegate (IntPtr user, ulong done, ulong total)
            {
                try { progress(done, total); }
                catch (Exception e)
                {
                    HoldCallbackError(e);
                    if (currentCancel != IntPtr.Zero) NativeMethods.ta_cancel_set(currentCancel);
                }
            };
        }

        /// <summary>Uploads devices (a JSON array of Get-CMDevice-shaped objects); the run's report.</summary>
        public string SyncDevices(string devicesJson, string optionsJson, Action<ulong, ulong> progress, CancellationToken token = default(CancellationToken))
        {
            byte[] devices = Utf8.Encode(devicesJson);
            byte[] options = Utf8.Encode(optionsJson);
            ProgressCallback callback = Progress(progress);
            string report = CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_sync_devices(handle, devices, options, callback, IntPtr.Zero, c, out j); }, token);
            GC.KeepAlive(callback);
            return report;
        }

        /// <summary>Uploads devices from a file (NDJSON streamed, or a JSON array).</summary>
        public string SyncDevicesFile(string path, string optionsJson, Action<ulong, ulong> progress, CancellationToken token = default(CancellationToken))
        {
            byte[] file = Utf8.Encode(path);
            byte[] options = Utf8.Encode(optionsJson);
            ProgressCallback callback = Progress(progress);
            string report = CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_sync_devices_file(handle, file, options, callback, IntPtr.Zero, c, out j); }, token);
            GC.KeepAlive(callback);
            return report;
        }

        /// <summary>The devices as the admin center sees them, optionally for a Graph $filter. Every device
        /// returned for a filter is checked against it: when the service did not apply it (Intune ignores
        /// filters on properties it does not support), InvalidArgument with ServiceCode FilterNotApplied
        /// is thrown and no device is returned.</summary>
        public string ListDevices(string filter, CancellationToken token = default(CancellationToken))
        {
            byte[] f = Utf8.Encode(filter);
            return CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_list_devices(handle, f, c, out j); }, token);
        }

        /// <summary>Runs an action on managed devices: their ids as a JSON array, or {"filter":"..."} for the
        /// devices a Graph $filter lists (each checked against it first; when the service did not apply
        /// the filter nothing is sent and InvalidArgument with ServiceCode FilterNotApplied is thrown).
        /// One result per device.</summary>
        public string TriggerAction(string deviceIdsJson, string action, CancellationToken token = default(CancellationToken))
        {
            byte[] ids = Utf8.Encode(deviceIdsJson);
            byte[] a = Utf8.Encode(action);
            return CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_trigger_action(handle, ids, a, c, out j); }, token);
        }

        /// <summary>The site's notification worker: the decisions on the actions received.</summary>
        public string ReceiveNotifications(string discoveredUsersJson, uint timeoutSeconds, CancellationToken token = default(CancellationToken))
        {
            byte[] users = Utf8.Encode(discoveredUsersJson);
            return CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_receive_notifications(handle, users, timeoutSeconds, c, out j); }, token);
        }

        public string CompleteNotification(string notificationId, bool succeeded, string reason, string taskGuid, CancellationToken token = default(CancellationToken))
        {
            byte[] id = Utf8.Encode(notificationId);
            byte[] r = Utf8.Encode(reason);
            byte[] t = Utf8.Encode(taskGuid);
            return CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_complete_notification(handle, id, succeeded ? 1 : 0, r, t, c, out j); }, token);
        }

        public string TestEndpoints(CancellationToken token = default(CancellationToken))
        {
            return CallJson(delegate (IntPtr c, out IntPtr j) { return NativeMethods.ta_client_test_endpoints(handle, out j); }, token);
        }

        public void Dispose()
        {
            handle.Dispose();
            // The library may call the device code callbacks until the client is freed.
            GC.KeepAlive(deviceCodeCallback);
            GC.KeepAlive(keptCallbacks);
        }

        /// <summary>Throws the library's error for a non-OK status.</summary>
        public static void Check(int status)
        {
            if (status != 0) throw TenantAttachException.FromLastError(status);
        }
    }

    /// <summary>
    /// One library call run on a worker thread, for hosts whose own thread must stay free: PowerShell
    /// notices Ctrl+C (a stopped pipeline) only between statements, never inside a native call, and
    /// runs script blocks only on its own thread. The caller waits in short steps (<see cref="Wait"/>),
    /// takes the progress and the device code prompts queued meanwhile and shows them itself, and on
    /// Ctrl+C calls <see cref="Cancel"/>, which sets the call's ta_cancel flag. Callbacks the library
    /// makes on the worker thread only queue; no caller code runs inside the library.
    /// </summary>
    public sealed class NativeCall : IDisposable
    {
        private readonly CancellationTokenSource cancel = new CancellationTokenSource();
        private readonly ManualResetEvent done = new ManualResetEvent(false);
        private readonly object gate = new object();
        private readonly Queue<string> prompts = new Queue<string>();
        private ulong[] progress;
        private string result;
        private Exception error;

        private NativeCall() { }

        /// <summary>Starts <paramref name="operation"/> (a method name of TenantAttachClient:
        /// Register, Status, SetUploadSettings, Unregister, SyncDevices, SyncDevicesFile, ListDevices,
        /// TriggerAction, ReceiveNotifications, CompleteNotification, TestEndpoints) with its string
        /// arguments, in the method's order.</summary>
        public static NativeCall Start(TenantAttachClient client, string operation, string[] arguments)
        {
            if (client == null) throw new ArgumentNullException("client");
            string[] a = arguments ?? new string[0];
            NativeCall call = new NativeCall();
            Func<CancellationToken, string> body = call.Body(client, operation, a);
            client.SetDeviceCodeCallback(delegate (string json) { call.Enqueue(json); });
            Thread thread = new Thread(delegate ()
            {
                try { call.result = body(call.cancel.Token); }
                catch (Exception e) { call.error = e; }
                finally { call.done.Set(); }
            });
            thread.IsBackground = true;
            thread.Name = "tenant_attach " + operation;
            thread.Start();
            return call;
        }

        private Func<CancellationToken, string> Body(TenantAttachClient c, string operation, string[] a)
        {
            Action<ulong, ulong> report = delegate (ulong d, ulong t) { lock (gate) { progress = new ulong[] { d, t }; } };
            switch (operation)
            {
                case "Register": return delegate (CancellationToken t) { return c.Register(Arg(a, 0), t); };
                case "Status": return delegate (CancellationToken t) { return c.Status(t); };
                case "SetUploadSettings": return delegate (CancellationToken t) { return c.SetUploadSettings(Arg(a, 0), t); };
                case "Unregister": return delegate (CancellationToken t) { c.Unregister(t); return null; };
                case "SyncDevices": return delegate (CancellationToken t) { return c.SyncDevices(Arg(a, 0), Arg(a, 1), report, t); };
                case "SyncDevicesFile": return delegate (CancellationToken t) { return c.SyncDevicesFile(Arg(a, 0), Arg(a, 1), report, t); };
                case "ListDevices": return delegate (CancellationToken t) { return c.ListDevices(Arg(a, 0), t); };
                case "TriggerAction": return delegate (CancellationToken t) { return c.TriggerAction(Arg(a, 0), Arg(a, 1), t); };
                case "ReceiveNotifications":
                    return delegate (CancellationToken t) { return c.ReceiveNotifications(Arg(a, 0), uint.Parse(Arg(a, 1) ?? "30", System.Globalization.CultureInfo.InvariantCulture), t); };
                case "CompleteNotification":
                    return delegate (CancellationToken t) { return c.CompleteNotification(Arg(a, 0), Arg(a, 1) == "True", Arg(a, 2), Arg(a, 3), t); };
                case "TestEndpoints": return delegate (CancellationToken t) { return c.TestEndpoints(t); };
                default: throw new ArgumentException("Unknown operation " + operation, "operation");
            }
        }

        private static string Arg(string[] a, int i)
        {
            return i < a.Length ? a[i] : null;
        }

        private void Enqueue(string prompt)
        {
            lock (gate) { prompts.Enqueue(prompt); }
        }

        /// <summary>Waits up to <paramref name="milliseconds"/>; true once the call has returned.</summary>
        public bool Wait(int milliseconds)
        {
            return done.WaitOne(milliseconds);
        }

        public bool IsCompleted { get { return done.WaitOne(0); } }

        /// <summary>The device code prompts (JSON) queued since the last take.</summary>
        public string[] TakePrompts()
        {
            lock (gate)
            {
                string[] all = prompts.ToArray();
                prompts.Clear();
                return all;
            }
        }

        /// <summary>The latest progress (done, total) since the last take, or null.</summary>
        public ulong[] TakeProgress()
        {
            lock (gate)
            {
                ulong[] p = progress;
                progress = null;
                return p;
            }
        }

        /// <summary>Asks the call to stop (ta_cancel_set); it returns TA_STATUS_CANCELLED soon after.</summary>
        public void Cancel()
        {
            cancel.Cancel();
        }

        /// <summary>The call's JSON result once it has returned; throws its TenantAttachException (or
        /// other failure). A method, not a property: PowerShell hides exceptions of property getters.</summary>
        public string GetResult()
        {
            done.WaitOne();
            if (error != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
            return result;
        }

        public void Dispose()
        {
            if (done.WaitOne(0))
            {
                done.Close();
                cancel.Dispose();
            }
        }
    }

}
