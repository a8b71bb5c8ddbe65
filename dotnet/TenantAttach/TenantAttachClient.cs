using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Raw = TenantAttach.Interop;

namespace TenantAttach
{
    /// <summary>
    /// A tenant attach client: onboarding, device upload, device actions and the site's notification
    /// worker, over one native <c>ta_client</c> (a <see cref="SafeHandle"/>, released by <see cref="Dispose"/>).
    /// </summary>
    /// <remarks>
    /// Every method that talks to a service takes a <see cref="CancellationToken"/>: cancelling it sets the
    /// call's native cancel flag, the library stops at its next check (between requests, batches and
    /// retries; a request in flight runs to its end, so <see cref="ReceiveNotifications"/> waits in short
    /// long polls when its token can be cancelled), and the method throws <see cref="OperationCanceledException"/>
    /// (whose inner exception is the library's <see cref="TenantAttachException"/> with status Cancelled).
    /// Failures throw <see cref="TenantAttachException"/>. A client may be used from several threads at
    /// once. The <c>...Async</c> methods run the same call on a thread-pool thread.
    /// </remarks>
    public sealed class TenantAttachClient : IDisposable
    {
        private readonly Raw.TenantAttachClient raw;

        private TenantAttachClient(Raw.TenantAttachClient raw)
        {
            this.raw = raw;
        }

        /// <summary>Opens a client from a typed configuration (docs/CONFIGURATION.md).</summary>
        /// <exception cref="TenantAttachException">The configuration is refused (status InvalidConfig, UnsupportedCloud...).</exception>
        /// <exception cref="TenantAttachLibraryException">The native library cannot be loaded or implements another ABI.</exception>
        public static TenantAttachClient Open(TenantAttachConfiguration configuration)
        {
            if (configuration == null) throw new ArgumentNullException(nameof(configuration));
            return Open(Json.Write(configuration));
        }

        /// <summary>Opens a client from configuration JSON as the C ABI takes it.</summary>
        /// <exception cref="TenantAttachException">The configuration is refused.</exception>
        /// <exception cref="TenantAttachLibraryException">The native library cannot be loaded or implements another ABI.</exception>
        public static TenantAttachClient Open(string configurationJson)
        {
            if (configurationJson == null) throw new ArgumentNullException(nameof(configurationJson));
            TenantAttachLibrary.EnsureLoaded();
            try
            {
                return new TenantAttachClient(Raw.TenantAttachClient.Open(configurationJson));
            }
            catch (Raw.TenantAttachException e)
            {
                throw new TenantAttachException(e);
            }
        }

        /// <summary>The native library's version (ta_version).</summary>
        public static string LibraryVersion => TenantAttachLibrary.Version;

        /// <summary>The native client handle (ta_client), for calls through TenantAttach.Interop.NativeMethods.</summary>
        public SafeHandle Handle => raw.Handle;

        /// <summary>The effective configuration: defaults filled in, every endpoint spelled out, secrets as "***".</summary>
        public TenantAttachConfiguration GetEffectiveConfiguration()
            => Json.Read<TenantAttachConfiguration>(Wrap(() => raw.ConfigJson, CancellationToken.None), "configuration");

        /// <summary>Shows the device code sign-in's instructions through <paramref name="show"/> (null: the
        /// library writes them to standard error). It runs on the thread of the call that signs in, inside
        /// that call; an exception it throws ends that call and is rethrown from it.</summary>
        public void SetDeviceCodeHandler(Action<DeviceCodePrompt>? show)
        {
            Action<string>? callback = null;
            if (show != null) callback = json => show(Json.Read<DeviceCodePrompt>(json, "device code prompt"));
            Wrap(() => { raw.SetDeviceCodeCallback(callback); return ""; }, CancellationToken.None);
        }

        /// <summary>Onboards the hierarchy: creates (as a Global Administrator) or imports the app, registers
        /// with the ConfigMgr gateway. Registering again converges. A created app's secret is in the result once.</summary>
        /// <param name="options">Upload scope, co-management, app to import; null for the defaults.</param>
        /// <param name="cancellationToken">Stops the call.</param>
        public RegistrationResult Register(RegisterOptions? options = null, CancellationToken cancellationToken = default)
            => Json.Read<RegistrationResult>(Wrap(() => raw.Register(options == null ? null : Json.Write(options), cancellationToken), cancellationToken), "registration");

        /// <summary>Onboarding state, upload scope, co-management flag, last sync and next run time.</summary>
        /// <param name="cancellationToken">Stops the call.</param>
        public OnboardingStatus GetStatus(CancellationToken cancellationToken = default)
            => Json.Read<OnboardingStatus>(Wrap(() => raw.Status(cancellationToken), cancellationToken), "status");

        /// <summary>Changes the upload scope and/or the co-management flag (the "edit co-management
        /// properties" path); a scope change makes the next upload a full sync.</summary>
        /// <param name="settings">What to change.</param>
        /// <param name="cancellationToken">Stops the call.</param>
        public OnboardingRecord SetUploadSettings(UploadSettings settings, CancellationToken cancellationToken = default)
        {
            if (settings == null) throw new ArgumentNullException(nameof(settings));
            return Json.Read<OnboardingRecord>(Wrap(() => raw.SetUploadSettings(Json.Write(settings), cancellationToken), cancellationToken), "onboarding");
        }

        /// <summary>Offboards the hierarchy and forgets the local sync state.</summary>
        /// <param name="cancellationToken">Stops the call.</param>
        public void Unregister(CancellationToken cancellationToken = default)
            => Wrap(() => { raw.Unregister(cancellationToken); return ""; }, cancellationToken);

        /// <summary>Uploads the site's devices: a full sync first, deltas after. The deletion guard stops a
        /// run that would delete too many devices (status DeletionRefused) unless the options allow it.</summary>
        /// <param name="devices">The devices, shaped like Get-CMDevice output.</param>
        /// <param name="options">Mode, dry run, deletion guard; null for the defaults.</param>
        /// <param name="progress">Receives (done, total) as records are handled, on the calling thread
        /// (<see cref="Progress{T}"/> posts to its synchronization context).</param>
        /// <param name="cancellationToken">Stops the upload; what the cloud acknowledged is kept, the rest goes next run.</param>
        public SyncReport SyncDevices(IEnumerable<DeviceRecord> devices, SyncOptions? options = null, IProgress<SyncProgress>? progress = null,
            CancellationToken cancellationToken = default)
        {
            if (devices == null) throw new ArgumentNullException(nameof(devices));
            string json = Json.Write(devices as IList<DeviceRecord> ?? devices.ToList());
            return Json.Read<SyncReport>(Wrap(() => raw.SyncDevices(json, Options(options), Report(progress), cancellationToken), cancellationToken), "upload report");
        }

        /// <summary>Uploads the devices of a file: NDJSON (one record a line, streamed) or a JSON array.</summary>
        /// <param name="path">The file.</param>
        /// <param name="options">Mode, dry run, deletion guard; null for the defaults.</param>
        /// <param name="progress">Receives (done, total) as records are handled.</param>
        /// <param name="cancellationToken">Stops the upload.</param>
        public SyncReport SyncDevicesFile(string path, SyncOptions? options = null, IProgress<SyncProgress>? progress = null,
            CancellationToken cancellationToken = default)
        {
            if (path == null) throw new ArgumentNullException(nameof(path));
            return Json.Read<SyncReport>(Wrap(() => raw.SyncDevicesFile(path, Options(options), Report(progress), cancellationToken), cancellationToken), "upload report");
        }

        /// <summary>The devices as the admin center sees them, optionally for a Graph $filter
        /// (<c>deviceName eq 'KIOSK-01'</c>). When the service did not apply the filter, nothing is returned
        /// and <see cref="TenantAttachException"/> (InvalidArgument, ServiceCode FilterNotApplied) is thrown.</summary>
        /// <param name="filter">A Graph $filter, or null for every device.</param>
        /// <param name="cancellationToken">Stops the call.</param>
        public IReadOnlyList<ManagedDevice> ListDevices(string? filter = null, CancellationToken cancellationToken = default)
            => Json.Read<List<ManagedDevice>>(Wrap(() => raw.ListDevices(filter, cancellationToken), cancellationToken), "device list");

        /// <summary>Runs an action on managed devices; one result per device.</summary>
        /// <param name="managedDeviceIds">The devices' managed device IDs (<see cref="ManagedDevice.Id"/>).</param>
        /// <param name="action">The action.</param>
        /// <param name="cancellationToken">Stops the call.</param>
        public IReadOnlyList<ActionResult> TriggerAction(IEnumerable<string> managedDeviceIds, DeviceAction action, CancellationToken cancellationToken = default)
        {
            if (managedDeviceIds == null) throw new ArgumentNullException(nameof(managedDeviceIds));
            string ids = Json.Write(managedDeviceIds.ToList());
            return Json.Read<List<ActionResult>>(Wrap(() => raw.TriggerAction(ids, action.ToString(), cancellationToken), cancellationToken), "action results");
        }

        /// <summary>Runs an action on the devices a Graph $filter lists, each checked against the filter
        /// first: when the service did not apply it, nothing is sent (InvalidArgument, FilterNotApplied).</summary>
        /// <param name="filter">A Graph $filter.</param>
        /// <param name="action">The action.</param>
        /// <param name="cancellationToken">Stops the call.</param>
        public IReadOnlyList<ActionResult> TriggerActionByFilter(string filter, DeviceAction action, CancellationToken cancellationToken = default)
        {
            if (filter == null) throw new ArgumentNullException(nameof(filter));
            string selector = Json.Write(new Dictionary<string, string> { ["filter"] = filter });
            return Json.Read<List<ActionResult>>(Wrap(() => raw.TriggerAction(selector, action.ToString(), cancellationToken), cancellationToken), "action results");
        }

        /// <summary>The site's notification worker: waits up to <paramref name="timeout"/> for actions,
        /// checks each one's user against the discovered users, and returns the decisions (refused ones are
        /// reported back as failed already). Hand the authorized ones to the ConfigMgr client, then call
        /// <see cref="CompleteNotification"/>.</summary>
        /// <param name="discoveredUsers">The site's discovered users.</param>
        /// <param name="timeout">The longest wait (a long poll), whole seconds; the gateway caps one poll at 60.</param>
        /// <param name="cancellationToken">Stops the wait within about two seconds (the wait is then a series
        /// of short long polls, since the library cannot interrupt a request in flight).</param>
        public IReadOnlyList<NotificationDecision> ReceiveNotifications(IEnumerable<DiscoveredUser> discoveredUsers, TimeSpan timeout,
            CancellationToken cancellationToken = default)
        {
            if (discoveredUsers == null) throw new ArgumentNullException(nameof(discoveredUsers));
            if (timeout < TimeSpan.Zero || timeout.TotalSeconds > uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(timeout));
            string users = Json.Write(discoveredUsers.ToList());
            uint seconds = (uint)Math.Ceiling(timeout.TotalSeconds);
            if (!cancellationToken.CanBeCanceled || seconds <= PollSliceSeconds)
                return Json.Read<List<NotificationDecision>>(Wrap(() => raw.ReceiveNotifications(users, seconds, cancellationToken), cancellationToken), "notification decisions");
            // The library checks its cancel flag between requests, not inside one: a long poll of 30 s
            // would run to its end. With a token that can be cancelled, the wait is a series of long polls
            // of at most PollSliceSeconds each (the gateway answers each at once when an action arrives),
            // so that a cancellation ends it within one slice. Decisions received are always returned.
            DateTime end = DateTime.UtcNow.AddSeconds(seconds);
            while (true)
            {
                double left = (end - DateTime.UtcNow).TotalSeconds;
                uint slice = (uint)Math.Max(0, Math.Min(PollSliceSeconds, Math.Ceiling(left)));
                List<NotificationDecision> decisions = Json.Read<List<NotificationDecision>>(
                    Wrap(() => raw.ReceiveNotifications(users, slice, cancellationToken), cancellationToken), "notification decisions");
                if (decisions.Count > 0 || slice == 0 || DateTime.UtcNow >= end) return decisions;
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        /// <summary>The longest single long poll of <see cref="ReceiveNotifications"/> with a cancellable token.</summary>
        private const uint PollSliceSeconds = 2;

        /// <summary>Reports an action's outcome to the cloud; completing twice is harmless.</summary>
        /// <param name="notificationId">The decision's <see cref="NotificationDecision.NotificationId"/>.</param>
        /// <param name="succeeded">True when the ConfigMgr client ran it.</param>
        /// <param name="reason">Why it failed, or null.</param>
        /// <param name="taskGuid">The decision's <see cref="NotificationDecision.TaskGuid"/>, or null.</param>
        /// <param name="cancellationToken">Stops the call.</param>
        public CompletionResult CompleteNotification(string notificationId, bool succeeded, string? reason = null, string? taskGuid = null,
            CancellationToken cancellationToken = default)
        {
            if (notificationId == null) throw new ArgumentNullException(nameof(notificationId));
            return Json.Read<CompletionResult>(Wrap(() => raw.CompleteNotification(notificationId, succeeded, reason, taskGuid, cancellationToken), cancellationToken), "completion");
        }

        /// <summary>The reachability of each internet endpoint. The native check takes no cancel flag:
        /// the token is checked before it starts, and each endpoint is bounded by the configured timeouts.</summary>
        /// <param name="cancellationToken">Checked before the call.</param>
        public IReadOnlyList<EndpointCheck> TestEndpoints(CancellationToken cancellationToken = default)
            => Json.Read<List<EndpointCheck>>(Wrap(() => raw.TestEndpoints(cancellationToken), cancellationToken), "endpoint checks");

        /// <summary><see cref="Register"/> on a thread-pool thread.</summary>
        /// <param name="options">As <see cref="Register"/>.</param>
        /// <param name="cancellationToken">Stops the call.</param>
        public Task<RegistrationResult> RegisterAsync(RegisterOptions? options = null, CancellationToken cancellationToken = default)
            => Run(() => Register(options, cancellationToken), cancellationToken);

        /// <summary><see cref="SyncDevices"/> on a thread-pool thread.</summary>
        /// <param name="devices">As <see cref="SyncDevices"/>.</param>
        /// <param name="options">As <see cref="SyncDevices"/>.</param>
        /// <param name="progress">As <see cref="SyncDevices"/>.</param>
        /// <param name="cancellationToken">Stops the upload.</param>
        public Task<SyncReport> SyncDevicesAsync(IEnumerable<DeviceRecord> devices, SyncOptions? options = null, IProgress<SyncProgress>? progress = null,
            CancellationToken cancellationToken = default)
            => Run(() => SyncDevices(devices, options, progress, cancellationToken), cancellationToken);

        /// <summary><see cref="TriggerAction"/> on a thread-pool thread.</summary>
        /// <param name="managedDeviceIds">As <see cref="TriggerAction"/>.</param>
        /// <param name="action">As <see cref="TriggerAction"/>.</param>
        /// <param name="cancellationToken">Stops the call.</param>
        public Task<IReadOnlyList<ActionResult>> TriggerActionAsync(IEnumerable<string> managedDeviceIds, DeviceAction action, CancellationToken cancellationToken = default)
            => Run(() => TriggerAction(managedDeviceIds, action, cancellationToken), cancellationToken);

        /// <summary><see cref="ReceiveNotifications"/> on a thread-pool thread.</summary>
        /// <param name="discoveredUsers">As <see cref="ReceiveNotifications"/>.</param>
        /// <param name="timeout">As <see cref="ReceiveNotifications"/>.</param>
        /// <param name="cancellationToken">Stops the wait.</param>
        public Task<IReadOnlyList<NotificationDecision>> ReceiveNotificationsAsync(IEnumerable<DiscoveredUser> discoveredUsers, TimeSpan timeout,
            CancellationToken cancellationToken = default)
            => Run(() => ReceiveNotifications(discoveredUsers, timeout, cancellationToken), cancellationToken);

        /// <summary>Releases the native client (ta_client_free). Calls still running on other threads finish first.</summary>
        public void Dispose() => raw.Dispose();

        private static Task<T> Run<T>(Func<T> call, CancellationToken cancellationToken)
            => Task.Factory.StartNew(call, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        private static string? Options(SyncOptions? options) => options == null ? null : Json.Write(options);

        private static Action<ulong, ulong>? Report(IProgress<SyncProgress>? progress)
            => progress == null ? null : (done, total) => progress.Report(new SyncProgress(done, total));

        /// <summary>Runs an interop call, turning its failures into this package's exceptions: a call the
        /// token cancelled becomes OperationCanceledException.</summary>
        private static string Wrap(Func<string?> call, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                return call() ?? "";
            }
            catch (Raw.TenantAttachException e)
            {
                var error = new TenantAttachException(e);
                if (e.Status == Raw.TaStatus.Cancelled && cancellationToken.IsCancellationRequested)
                    throw new OperationCanceledException(e.Message, error, cancellationToken);
                throw error;
            }
        }
    }
}
