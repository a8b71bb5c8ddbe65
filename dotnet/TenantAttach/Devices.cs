using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TenantAttach
{
    /// <summary>A device to upload, shaped like a <c>Get-CMDevice</c> object (its property names are the
    /// JSON names). Only <see cref="SmsId"/> and <see cref="Name"/> are needed; a member left null is absent,
    /// never guessed. Records that are not clients, or obsolete, are not uploaded.</summary>
    public sealed class DeviceRecord
    {
        /// <summary>The device name.</summary>
        [JsonPropertyName("Name")] public string? Name { get; set; }
        /// <summary>The device's SMSID (GUID:...), its identity.</summary>
        [JsonPropertyName("SMSID")] public string? SmsId { get; set; }
        /// <summary>The ConfigMgr resource ID.</summary>
        [JsonPropertyName("ResourceID")] public uint? ResourceId { get; set; }
        /// <summary>True when the ConfigMgr client is installed; only clients are uploaded.</summary>
        [JsonPropertyName("IsClient")] public bool? IsClient { get; set; }
        /// <summary>True for a record ConfigMgr replaced; never uploaded.</summary>
        [JsonPropertyName("IsObsolete")] public bool? IsObsolete { get; set; }
        /// <summary>The operating system, e.g. "Microsoft Windows NT Workstation 10.0".</summary>
        [JsonPropertyName("DeviceOS")] public string? DeviceOS { get; set; }
        /// <summary>The operating system build.</summary>
        [JsonPropertyName("DeviceOSBuild")] public string? DeviceOSBuild { get; set; }
        /// <summary>The ConfigMgr client version.</summary>
        [JsonPropertyName("ClientVersion")] public string? ClientVersion { get; set; }
        /// <summary>The device's site code.</summary>
        [JsonPropertyName("SiteCode")] public string? SiteCode { get; set; }
        /// <summary>The Azure AD device ID.</summary>
        [JsonPropertyName("AADDeviceID")] public string? AadDeviceId { get; set; }
        /// <summary>The Azure AD tenant ID.</summary>
        [JsonPropertyName("AADTenantID")] public string? AadTenantId { get; set; }
        /// <summary>The primary user's Azure AD object ID.</summary>
        [JsonPropertyName("AADPrimaryUserID")] public string? AadPrimaryUserId { get; set; }
        /// <summary>The model (hardware inventory).</summary>
        [JsonPropertyName("Model")] public string? Model { get; set; }
        /// <summary>The manufacturer (hardware inventory).</summary>
        [JsonPropertyName("Manufacturer")] public string? Manufacturer { get; set; }
        /// <summary>The serial number.</summary>
        [JsonPropertyName("SerialNumber")] public string? SerialNumber { get; set; }
        /// <summary>The domain.</summary>
        [JsonPropertyName("Domain")] public string? Domain { get; set; }
        /// <summary>The domain names.</summary>
        [JsonPropertyName("DomainNames")] public IList<string>? DomainNames { get; set; }
        /// <summary>The operating system SKU.</summary>
        [JsonPropertyName("SKU")] public string? Sku { get; set; }
        /// <summary>The collections the device is a member of (for a collection scope).</summary>
        [JsonPropertyName("CollectionIDs")] public IList<string>? CollectionIds { get; set; }
        /// <summary>True for a distribution point.</summary>
        [JsonPropertyName("IsDistributionPoint")] public bool? IsDistributionPoint { get; set; }
        /// <summary>The client's certificate thumbprint (diagnostics only: devices are keyed by SMSID).</summary>
        [JsonPropertyName("CertificateThumbprint")] public string? CertificateThumbprint { get; set; }
        /// <summary>Other properties, sent as they are.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>How an upload is run.</summary>
    public enum SyncMode
    {
        /// <summary>A full sync first (or when needed), deltas after: the default.</summary>
        Auto,
        /// <summary>A full sync.</summary>
        Full,
        /// <summary>Only the records given, never deleting the others.</summary>
        Partial,
    }

    /// <summary>Options of an upload; null members take the library's defaults.</summary>
    public sealed class SyncOptions
    {
        /// <summary>Auto (default), full or partial.</summary>
        public SyncMode? Mode { get; set; }
        /// <summary>Report what would be sent, send nothing.</summary>
        public bool? DryRun { get; set; }
        /// <summary>Records per batch.</summary>
        public int? MaxRecords { get; set; }
        /// <summary>Bytes per batch.</summary>
        public int? MaxBytes { get; set; }
        /// <summary>Collections included in or limited to others (collection ID to its member collections).</summary>
        public IDictionary<string, IList<string>>? CollectionTree { get; set; }
        /// <summary>The SMSIDs of the scope collection's members, for records without CollectionIDs.</summary>
        public IList<string>? CollectionMembers { get; set; }
        /// <summary>Go ahead although the deletion guard would stop the run.</summary>
        public bool? AllowMassDeletion { get; set; }
        /// <summary>The most devices a run may delete without <see cref="AllowMassDeletion"/> (default 500).</summary>
        public long? MaxDeletions { get; set; }
        /// <summary>The largest share of known devices a run may delete, in percent (default 10).</summary>
        public int? MaxDeletionPercent { get; set; }
        /// <summary>Move the hierarchy's uploads to this site instance (a server migration): the cloud otherwise refuses
        /// uploads from any instance but the one uploading it (<see cref="TenantAttachStatus.Conflict"/>).</summary>
        public bool? TakeOver { get; set; }
    }

    /// <summary>An upload's progress: records handled so far of the total (0 when unknown).</summary>
    public readonly struct SyncProgress
    {
        /// <summary>Creates a progress report.</summary>
        public SyncProgress(ulong done, ulong total)
        {
            Done = done;
            Total = total;
        }

        /// <summary>Records handled so far.</summary>
        public ulong Done { get; }
        /// <summary>Records in the input, or 0 when not known in advance.</summary>
        public ulong Total { get; }
        /// <summary>The share done (0 to 1), or null when the total is not known.</summary>
        public double? Fraction => Total == 0 ? (double?)null : Math.Min(1.0, (double)Done / Total);

        /// <summary>"done/total".</summary>
        public override string ToString() => Done + "/" + Total;
    }

    /// <summary>A record an upload skipped, and why.</summary>
    public sealed class SkippedRecord
    {
        /// <summary>0-based position in the array, or 1-based line number in NDJSON.</summary>
        public long Index { get; set; }
        /// <summary>The NDJSON line, when read from a file.</summary>
        public long? Line { get; set; }
        /// <summary>The record's name, when it had one.</summary>
        public string? Name { get; set; }
        /// <summary>The record's SMSID, when it had one.</summary>
        public string? SmsId { get; set; }
        /// <summary>Why it was skipped.</summary>
        public string? Reason { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The report of one upload.</summary>
    public sealed class SyncReport
    {
        /// <summary>The upload's sync ID.</summary>
        public string? SyncId { get; set; }
        /// <summary><c>full</c>, <c>delta</c> or <c>partial</c>.</summary>
        public string? Kind { get; set; }
        /// <summary>Why a full sync was chosen.</summary>
        public string? Reason { get; set; }
        /// <summary>True when nothing was sent.</summary>
        public bool DryRun { get; set; }
        /// <summary>Records read.</summary>
        public long Considered { get; set; }
        /// <summary>Records eligible for upload.</summary>
        public long Eligible { get; set; }
        /// <summary>Not a client, or outside the upload scope.</summary>
        public long Ineligible { get; set; }
        /// <summary>Devices uploaded (new or changed).</summary>
        public long Uploaded { get; set; }
        /// <summary>Devices deleted.</summary>
        public long Deleted { get; set; }
        /// <summary>Devices unchanged since the last upload.</summary>
        public long Unchanged { get; set; }
        /// <summary>Records skipped.</summary>
        public long SkippedCount { get; set; }
        /// <summary>The skipped records, with reasons.</summary>
        public IList<SkippedRecord> Skipped { get; set; } = new List<SkippedRecord>();
        /// <summary>Batches sent.</summary>
        public long Batches { get; set; }
        /// <summary>Bytes sent.</summary>
        public long Bytes { get; set; }
        /// <summary>How long the run took, in milliseconds.</summary>
        public long DurationMs { get; set; }
        /// <summary>When the next upload is due.</summary>
        public DateTimeOffset? NextRunTime { get; set; }
        /// <summary>Warnings a person should read.</summary>
        public IList<string> Warnings { get; set; } = new List<string>();
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The ConfigMgr client's details on a managed device.</summary>
    public sealed class ConfigurationManagerClientInformation
    {
        /// <summary>The client identifier: the device's SMSID.</summary>
        public string? ClientIdentifier { get; set; }
        /// <summary>The client version.</summary>
        public string? ClientVersion { get; set; }
        /// <summary>True when the client is blocked.</summary>
        public bool IsBlocked { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>A device as the admin center (Microsoft Graph's managedDevice) shows it.</summary>
    public sealed class ManagedDevice
    {
        /// <summary>The managed device ID: what actions take.</summary>
        public string? Id { get; set; }
        /// <summary>The device name.</summary>
        public string? DeviceName { get; set; }
        /// <summary><c>configurationManagerClient</c> for devices this site uploaded.</summary>
        public string? ManagementAgent { get; set; }
        /// <summary>The ConfigMgr client's details.</summary>
        public ConfigurationManagerClientInformation? ConfigurationManagerClientInformation { get; set; }
        /// <summary>The Azure AD device ID.</summary>
        [JsonPropertyName("azureADDeviceId")] public string? AzureAdDeviceId { get; set; }
        /// <summary>The operating system.</summary>
        public string? OperatingSystem { get; set; }
        /// <summary>The operating system version.</summary>
        public string? OsVersion { get; set; }
        /// <summary>The manufacturer.</summary>
        public string? Manufacturer { get; set; }
        /// <summary>The model.</summary>
        public string? Model { get; set; }
        /// <summary>The serial number.</summary>
        public string? SerialNumber { get; set; }
        /// <summary>The primary user's ID.</summary>
        public string? UserId { get; set; }
        /// <summary>The owner type (company, personal).</summary>
        public string? ManagedDeviceOwnerType { get; set; }
        /// <summary>When the device last synced.</summary>
        public DateTimeOffset? LastSyncDateTime { get; set; }
        /// <summary>The device's recent actions as Graph reports them.</summary>
        public IList<JsonElement>? DeviceActionResults { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The device actions of the admin center.</summary>
    public enum DeviceAction
    {
        /// <summary>Sync machine policy (Graph refreshMachinePolicy, TemplateID RequestMachinePolicy).</summary>
        SyncMachinePolicy,
        /// <summary>Sync user policy (Graph refreshUserPolicy, TemplateID RequestUsersPolicy).</summary>
        SyncUserPolicy,
        /// <summary>App evaluation cycle (Graph appEvaluation, TemplateID AppDeplEvalNow).</summary>
        AppEvaluationCycle,
    }

    /// <summary>The outcome of an action on one device.</summary>
    public sealed class ActionResult
    {
        /// <summary>The managed device ID.</summary>
        public string? ManagedDeviceId { get; set; }
        /// <summary>The action.</summary>
        public string? Action { get; set; }
        /// <summary><c>accepted</c> or why not.</summary>
        public string? Result { get; set; }
        /// <summary>True when the service accepted the action.</summary>
        [JsonIgnore] public bool Accepted => string.Equals(Result, "accepted", StringComparison.Ordinal);
        /// <summary>The HTTP status of the last attempt.</summary>
        public int? HttpStatus { get; set; }
        /// <summary>The service's message, when it refused.</summary>
        public string? Message { get; set; }
        /// <summary>Attempts made.</summary>
        public int Attempts { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }
}
