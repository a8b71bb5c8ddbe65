using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TenantAttach
{
    /// <summary>Which devices are uploaded: all clients (the recommended default) or one collection's members.</summary>
    public sealed class UploadScope
    {
        /// <summary><c>all</c> or <c>collection</c>.</summary>
        public string? Kind { get; set; }
        /// <summary>The collection ID (kind <c>collection</c>), e.g. PS100012.</summary>
        public string? CollectionId { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }

        /// <summary>Every device with the ConfigMgr client.</summary>
        public static UploadScope All => new UploadScope { Kind = "all" };

        /// <summary>The members of one device collection.</summary>
        public static UploadScope Collection(string collectionId) => new UploadScope { Kind = "collection", CollectionId = collectionId };
    }

    /// <summary>An existing app registration to import instead of creating one.</summary>
    public sealed class ImportedApp
    {
        /// <summary>The app (client) ID.</summary>
        public string? ClientId { get; set; }
        /// <summary>The app's client secret.</summary>
        public string? ClientSecret { get; set; }
        /// <summary>When the secret expires.</summary>
        [JsonConverter(typeof(Rfc3339Converter))]
        public DateTimeOffset SecretExpiry { get; set; }
        /// <summary>The App ID URI: <c>api://{tenantId}/{name}</c> or <c>https://{verifiedDomain}/{name}</c>.</summary>
        public string? AppIdUri { get; set; }
    }

    /// <summary>Options of <see cref="TenantAttachClient.Register"/>; null members take the library's defaults.</summary>
    public sealed class RegisterOptions
    {
        /// <summary>The upload scope (default: all devices).</summary>
        public UploadScope? UploadScope { get; set; }
        /// <summary>Automatic client enrollment for co-management (default off).</summary>
        public bool? CoManagementAutoEnroll { get; set; }
        /// <summary>The display name of an app the call creates.</summary>
        public string? AppName { get; set; }
        /// <summary>Import this app instead of creating one.</summary>
        public ImportedApp? Import { get; set; }
        /// <summary>Members this version of the package does not know (sent as they are).</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The upload scope and co-management flag to change (<see cref="TenantAttachClient.SetUploadSettings"/>).</summary>
    public sealed class UploadSettings
    {
        /// <summary>The new upload scope, or null to keep it. A change makes the next upload a full sync.</summary>
        public UploadScope? UploadScope { get; set; }
        /// <summary>The new co-management flag, or null to keep it.</summary>
        public bool? CoManagementAutoEnroll { get; set; }
        /// <summary>Members this version of the package does not know (sent as they are).</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The hierarchy's onboarding as the gateway records it.</summary>
    public sealed class OnboardingRecord
    {
        /// <summary>The app (client) ID the site uses.</summary>
        public string? AppId { get; set; }
        /// <summary>The app's App ID URI.</summary>
        public string? AppIdUri { get; set; }
        /// <summary>Automatic client enrollment for co-management.</summary>
        public bool CoManagementAutoEnroll { get; set; }
        /// <summary>The ConfigMgr hierarchy ID.</summary>
        public string? HierarchyId { get; set; }
        /// <summary>The site code.</summary>
        public string? SiteCode { get; set; }
        /// <summary>The Azure AD tenant ID.</summary>
        public string? TenantId { get; set; }
        /// <summary>The upload scope.</summary>
        public UploadScope? UploadScope { get; set; }
        /// <summary>Incremented by every scope change.</summary>
        public long ScopeVersion { get; set; }
        /// <summary>When the hierarchy was onboarded.</summary>
        public DateTimeOffset? OnboardedDateTime { get; set; }
        /// <summary>When the onboarding last changed.</summary>
        public DateTimeOffset? LastModifiedDateTime { get; set; }
        /// <summary>The last upload the gateway completed, or null.</summary>
        public SyncSummary? LastSync { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>One completed upload, as the gateway or the local sync state records it.</summary>
    public sealed class SyncSummary
    {
        /// <summary>The upload's sync ID.</summary>
        public string? SyncId { get; set; }
        /// <summary><c>full</c>, <c>delta</c> or <c>partial</c>.</summary>
        public string? Kind { get; set; }
        /// <summary>When it completed.</summary>
        public DateTimeOffset? CompletedDateTime { get; set; }
        /// <summary>Devices known after it.</summary>
        public long DeviceCount { get; set; }
        /// <summary>Devices it uploaded (local state only).</summary>
        public long? Uploaded { get; set; }
        /// <summary>Devices it deleted (local state only).</summary>
        public long? Deleted { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>A created app's credentials: the secret is shown here once and never stored by the library.</summary>
    public sealed class CreatedApp
    {
        /// <summary>The application object's ID.</summary>
        public string? AppObjectId { get; set; }
        /// <summary>The service principal's ID.</summary>
        public string? ServicePrincipalId { get; set; }
        /// <summary>The new client secret: keep it safe, it is not shown again.</summary>
        public string? ClientSecret { get; set; }
        /// <summary>When the secret expires.</summary>
        public DateTimeOffset? SecretExpiry { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The result of <see cref="TenantAttachClient.Register"/>.</summary>
    public sealed class RegistrationResult
    {
        /// <summary>True when the hierarchy was onboarded already and the call converged with it.</summary>
        public bool AlreadyOnboarded { get; set; }
        /// <summary>The app (client) ID.</summary>
        public string? AppId { get; set; }
        /// <summary>The app's App ID URI.</summary>
        public string? AppIdUri { get; set; }
        /// <summary>The onboarding record.</summary>
        public OnboardingRecord? Onboarding { get; set; }
        /// <summary>The created app and its secret (once), or null when the app was imported or existed.</summary>
        public CreatedApp? CreatedApp { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The local sync state's view (<see cref="OnboardingStatus.Local"/>).</summary>
    public sealed class LocalSyncState
    {
        /// <summary>Devices the state knows.</summary>
        public long Devices { get; set; }
        /// <summary>True when a full sync is in progress and will be resumed.</summary>
        public bool FullSyncPending { get; set; }
        /// <summary>The last completed upload, or null.</summary>
        public SyncSummary? LastSync { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The result of <see cref="TenantAttachClient.GetStatus"/>.</summary>
    public sealed class OnboardingStatus
    {
        /// <summary>True when the hierarchy is onboarded to this tenant.</summary>
        public bool Onboarded { get; set; }
        /// <summary>The onboarding record, or null.</summary>
        public OnboardingRecord? Onboarding { get; set; }
        /// <summary>The local sync state, or null without a state folder.</summary>
        public LocalSyncState? Local { get; set; }
        /// <summary>The next upload's time, or null.</summary>
        public DateTimeOffset? NextRunTime { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>One internet endpoint's reachability (<see cref="TenantAttachClient.TestEndpoints"/>).</summary>
    public sealed class EndpointCheck
    {
        /// <summary>The configuration key, e.g. <c>endpoints.gateway</c>.</summary>
        public string? Name { get; set; }
        /// <summary>The URL checked.</summary>
        public string? Url { get; set; }
        /// <summary>True when it answered (any HTTP status).</summary>
        public bool Reachable { get; set; }
        /// <summary>The HTTP status it answered with.</summary>
        public int? HttpStatus { get; set; }
        /// <summary>Why it is not reachable.</summary>
        public string? Error { get; set; }
        /// <summary>The error's kind (network, tls, timeout...).</summary>
        public string? Kind { get; set; }
        /// <summary>How long the check took, in milliseconds.</summary>
        public long ElapsedMs { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }
}
