using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TenantAttach
{
    /// <summary>The client's configuration (docs/CONFIGURATION.md): every member is optional; a member
    /// left null is not sent and takes the library's default.</summary>
    public sealed class TenantAttachConfiguration
    {
        /// <summary>The cloud: only <c>AzurePublicCloud</c> (the default) is supported.</summary>
        public string? Cloud { get; set; }
        /// <summary>The Azure AD tenant: a GUID or a domain (contoso.onmicrosoft.com).</summary>
        public string? TenantId { get; set; }
        /// <summary>The site code of the top-level site, e.g. PS1.</summary>
        public string? SiteCode { get; set; }
        /// <summary>The ConfigMgr hierarchy ID, a GUID.</summary>
        public string? HierarchyId { get; set; }
        /// <summary>Service endpoints; the real Microsoft hosts by default.</summary>
        public EndpointSettings? Endpoints { get; set; }
        /// <summary>An HTTP or SOCKS proxy URL; direct when null.</summary>
        public string? Proxy { get; set; }
        /// <summary>A PEM file of CA certificates trusted in addition to the public roots.</summary>
        public string? TrustedCaFile { get; set; }
        /// <summary>The folder of the sync state.</summary>
        public string? StateDir { get; set; }
        /// <summary>The folder of the CMTrace logs; no logs when null.</summary>
        public string? LogDir { get; set; }
        /// <summary>The size at which a log rolls over (default 2621440).</summary>
        public long? LogMaxBytes { get; set; }
        /// <summary>The upload cadence reported as the next run time (default 15).</summary>
        public int? SyncIntervalMinutes { get; set; }
        /// <summary>Network timeouts and retries.</summary>
        public TimeoutSettings? Timeouts { get; set; }
        /// <summary>Which user discoveries must have found the user who starts an action: <c>both</c>
        /// (the default, ConfigMgr 2002) or <c>either</c> (2103 and later).</summary>
        public string? UserDiscovery { get; set; }
        /// <summary>How the library signs in.</summary>
        public AuthSettings? Auth { get; set; }
        /// <summary>Members this version of the package does not know (sent and received as they are).</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>Service endpoints (the <c>endpoints</c> key).</summary>
    public sealed class EndpointSettings
    {
        /// <summary>The Azure AD authority host.</summary>
        public string? Authority { get; set; }
        /// <summary>Microsoft Graph.</summary>
        public string? Graph { get; set; }
        /// <summary>The ConfigMgr gateway.</summary>
        public string? Gateway { get; set; }
        /// <summary>The US regional gateway (endpoint check).</summary>
        public string? GatewayUs { get; set; }
        /// <summary>The EU regional gateway (endpoint check).</summary>
        public string? GatewayEu { get; set; }
        /// <summary>The gateway short link (endpoint check).</summary>
        public string? Aka { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }

        /// <summary>Every service endpoint at one URL, as the local cloud serves them.</summary>
        public static EndpointSettings AllAt(string url) => new EndpointSettings { Authority = url, Graph = url, Gateway = url };
    }

    /// <summary>Network timeouts and retries (the <c>timeouts</c> key).</summary>
    public sealed class TimeoutSettings
    {
        /// <summary>TCP and TLS connect timeout in milliseconds.</summary>
        public long? ConnectMs { get; set; }
        /// <summary>One request attempt, in milliseconds.</summary>
        public long? RequestMs { get; set; }
        /// <summary>Time spent retrying one call, in milliseconds.</summary>
        public long? RetryBudgetMs { get; set; }
        /// <summary>Attempts per call.</summary>
        public int? MaxAttempts { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>How the library signs in (the <c>auth</c> key); build one with <see cref="WithClientSecret"/>,
    /// <see cref="DeviceCode"/> or <see cref="WithAccessToken"/>.</summary>
    public sealed class AuthSettings
    {
        /// <summary><c>clientSecret</c>, <c>deviceCode</c> or <c>accessToken</c>.</summary>
        public string? Kind { get; set; }
        /// <summary>The app (client) ID.</summary>
        public string? ClientId { get; set; }
        /// <summary>The app's client secret (kind <c>clientSecret</c>); shown as *** by the library.</summary>
        public string? ClientSecret { get; set; }
        /// <summary>A token the caller already has (kind <c>accessToken</c>).</summary>
        public string? AccessToken { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }

        /// <summary>Client credentials of the app registration: runbooks and services.</summary>
        public static AuthSettings WithClientSecret(string clientId, string clientSecret)
            => new AuthSettings { Kind = "clientSecret", ClientId = clientId, ClientSecret = clientSecret };

        /// <summary>A person signing in by device code; <paramref name="clientId"/> null for the default public client.</summary>
        public static AuthSettings DeviceCode(string? clientId = null) => new AuthSettings { Kind = "deviceCode", ClientId = clientId };

        /// <summary>A token the caller already has.</summary>
        public static AuthSettings WithAccessToken(string accessToken) => new AuthSettings { Kind = "accessToken", AccessToken = accessToken };
    }
}
