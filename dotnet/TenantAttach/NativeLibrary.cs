using System;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using TenantAttach.Interop;

namespace TenantAttach
{
    /// <summary>Finds and checks the native tenant_attach library once per process, before the first call.</summary>
    /// <remarks>
    /// Order: <see cref="Load"/> called by the application; else the <c>TENANT_ATTACH_LIBRARY</c>
    /// environment variable (an absolute path); else the .NET host's own probing of the package's
    /// <c>runtimes/&lt;rid&gt;/native/</c> asset (as for any DllImport of "tenant_attach"); else the
    /// library next to the application or under its <c>runtimes/&lt;rid&gt;/native/</c> folder.
    /// Then <c>ta_abi_version()</c> must equal the ABI version this package was built for.
    /// </remarks>
    public static class TenantAttachLibrary
    {
        private static readonly object Gate = new object();
        private static volatile bool ready;

        /// <summary>The ABI version this package was built for (TA_ABI_VERSION of include/tenant_attach.h).</summary>
        public static int ExpectedAbiVersion { get; } = ReadExpectedAbiVersion();

        /// <summary>The absolute path the library was loaded from when this package loaded it by path,
        /// or null when the .NET host's probing found it.</summary>
        public static string? LoadedPath => NativeLibraryLoader.LoadedPath;

        /// <summary>Loads the native library from <paramref name="path"/> (absolute) before the first call,
        /// instead of the copy the package brings; then checks its ABI version.</summary>
        /// <exception cref="TenantAttachLibraryException">It cannot be loaded or implements another ABI.</exception>
        public static void Load(string path)
        {
            if (path == null) throw new ArgumentNullException(nameof(path));
            lock (Gate)
            {
                if (ready && LoadedPath == null)
                    throw new TenantAttachLibraryException("The native tenant_attach library was loaded already (found by the .NET host); "
                        + "call TenantAttachLibrary.Load before the first client is opened.", null, ExpectedAbiVersion, null);
                LoadByPath(Path.GetFullPath(path));
                Check();
                ready = true;
            }
        }

        /// <summary>The library's version (ta_version), loading it first.</summary>
        public static string Version
        {
            get
            {
                EnsureLoaded();
                return TenantAttach.Interop.TenantAttachClient.Version;
            }
        }

        /// <summary>Makes sure the library is loaded and of the expected ABI; called by every client.</summary>
        internal static void EnsureLoaded()
        {
            if (ready) return;
            lock (Gate)
            {
                if (ready) return;
                string? fromEnvironment = Environment.GetEnvironmentVariable("TENANT_ATTACH_LIBRARY");
                if (!string.IsNullOrEmpty(fromEnvironment))
                    LoadByPath(Path.GetFullPath(fromEnvironment!));
                else if (!HostFinds())
                    LoadByPath(FindBesideApplication());
                Check();
                ready = true;
            }
        }

        private static void LoadByPath(string path)
        {
            if (NativeLibraryLoader.LoadedPath != null && NativeLibraryLoader.LoadedPath != path)
                throw new TenantAttachLibraryException("The native tenant_attach library was already loaded from "
                    + NativeLibraryLoader.LoadedPath + "; it cannot be replaced by " + path + " in this process.", null, ExpectedAbiVersion, null);
            try
            {
                NativeLibraryLoader.Load(path);
            }
            catch (Exception e) when (e is DllNotFoundException || e is FileNotFoundException || e is ArgumentException)
            {
                throw new TenantAttachLibraryException("Cannot load the native tenant_attach library from " + path + ": " + e.Message,
                    e, ExpectedAbiVersion, null);
            }
        }

        /// <summary>True when the .NET host resolves "tenant_attach" for the interop assembly by itself
        /// (the package's runtimes/&lt;rid&gt;/native asset listed in the application's deps.json).</summary>
        private static bool HostFinds()
        {
#if NET
            return System.Runtime.InteropServices.NativeLibrary.TryLoad(NativeMethods.Library, typeof(NativeMethods).Assembly, null, out _);
#else
            return false;
#endif
        }

        private static string FindBesideApplication()
        {
            string file = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "tenant_attach.dll"
                : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "libtenant_attach.dylib" : "libtenant_attach.so";
            string os = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "win"
                : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "osx" : "linux";
            string arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
            string[] folders =
            {
                AppContext.BaseDirectory,
                Path.GetDirectoryName(typeof(TenantAttachLibrary).Assembly.Location) ?? AppContext.BaseDirectory,
            };
            foreach (string folder in folders)
            {
                foreach (string candidate in new[] { Path.Combine(folder, file), Path.Combine(folder, "runtimes", os + "-" + arch, "native", file) })
                {
                    if (File.Exists(candidate)) return Path.GetFullPath(candidate);
                }
            }
            throw new TenantAttachLibraryException("The native tenant_attach library (" + file + ") was not found for " + os + "-" + arch
                + ": the TenantAttach package brings runtimes/linux-x64/native/libtenant_attach.so (and win-x64 when built on Windows); "
                + "for another platform build it (cargo build --release -p tenant-attach) and call TenantAttachLibrary.Load(path) "
                + "or set TENANT_ATTACH_LIBRARY.", null, ExpectedAbiVersion, null);
        }

        private static void Check()
        {
            uint actual;
            try
            {
                actual = NativeMethods.ta_abi_version();
            }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException || e is BadImageFormatException)
            {
                throw new TenantAttachLibraryException("The native tenant_attach library could not be used: " + e.Message
                    + " (it must export ta_abi_version; see docs/CSHARP.md).", e, ExpectedAbiVersion, null);
            }
            if (actual != (uint)ExpectedAbiVersion)
                throw new TenantAttachLibraryException(string.Format(CultureInfo.InvariantCulture,
                    "The native tenant_attach library{0} implements ABI version {1}, but this TenantAttach package was built for ABI version {2}: "
                    + "use the library and the package of the same release.",
                    LoadedPath == null ? "" : " at " + LoadedPath, actual, ExpectedAbiVersion), null, ExpectedAbiVersion, (int)actual);
        }

        private static int ReadExpectedAbiVersion()
        {
            foreach (AssemblyMetadataAttribute a in typeof(TenantAttachLibrary).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>())
            {
                if (a.Key == "TenantAttachAbiVersion" && int.TryParse(a.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int v))
                    return v;
            }
            throw new InvalidOperationException("The TenantAttach assembly carries no TenantAttachAbiVersion: it was built wrongly.");
        }
    }
}
