using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TenantAttach
{
    /// <summary>A user as the site's discoveries know them (from <c>Get-CMUser</c> / <c>SMS_R_User</c>):
    /// matched to the user who started an action by Azure AD object ID, else UPN, else SID.</summary>
    public sealed class DiscoveredUser
    {
        /// <summary>The user's Azure AD object ID.</summary>
        public string? AadUserId { get; set; }
        /// <summary>The user principal name.</summary>
        public string? UserPrincipalName { get; set; }
        /// <summary>The on-premises security identifier.</summary>
        public string? Sid { get; set; }
        /// <summary>Found by Active Directory user discovery.</summary>
        public bool AdDiscovered { get; set; }
        /// <summary>Found by Azure Active Directory user discovery.</summary>
        public bool AzureAdDiscovered { get; set; }
    }

    /// <summary>What the notification worker decided about one action: run it through the ConfigMgr
    /// client (<see cref="Authorized"/>), or refused (already reported back as failed).</summary>
    public sealed class NotificationDecision
    {
        /// <summary><c>authorized</c> or <c>refused</c>.</summary>
        public string? Decision { get; set; }
        /// <summary>True when the site should hand the action to the ConfigMgr client.</summary>
        [JsonIgnore] public bool Authorized => string.Equals(Decision, "authorized", StringComparison.Ordinal);
        /// <summary>The notification ID, for <see cref="TenantAttachClient.CompleteNotification"/>.</summary>
        public string? NotificationId { get; set; }
        /// <summary>The managed device ID.</summary>
        public string? ManagedDeviceId { get; set; }
        /// <summary>The target device's SMSID.</summary>
        public string? SmsId { get; set; }
        /// <summary>The target device's name.</summary>
        public string? DeviceName { get; set; }
        /// <summary>The action (SyncMachinePolicy, SyncUserPolicy, AppEvaluationCycle).</summary>
        public string? Action { get; set; }
        /// <summary>The Graph action (refreshMachinePolicy...).</summary>
        public string? GraphAction { get; set; }
        /// <summary>The ConfigMgr client notification (ClientNotificationRequestMachinePolicyNow...).</summary>
        public string? NotificationType { get; set; }
        /// <summary>The BGB template name (RequestMachinePolicy...).</summary>
        public string? TemplateId { get; set; }
        /// <summary>The BGB template number (1, 2, 6).</summary>
        public int? TemplateNumber { get; set; }
        /// <summary><c>Invoke-CMClientAction</c>'s arguments besides -DeviceId.</summary>
        [JsonPropertyName("invokeCMClientAction")] public IDictionary<string, string>? InvokeCMClientAction { get; set; }
        /// <summary>The task GUID to report with the outcome.</summary>
        public string? TaskGuid { get; set; }
        /// <summary>The tenant ID.</summary>
        public string? TenantId { get; set; }
        /// <summary>The Azure AD object ID of the user who started it.</summary>
        public string? AadUserId { get; set; }
        /// <summary>The UPN of the user who started it.</summary>
        public string? UserPrincipalName { get; set; }
        /// <summary>Why it was refused.</summary>
        public string? Reason { get; set; }
        /// <summary>True when it was refused because the user is not authorized.</summary>
        public bool Unauthorized { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The gateway's answer to <see cref="TenantAttachClient.CompleteNotification"/>.</summary>
    public sealed class CompletionResult
    {
        /// <summary>The notification ID.</summary>
        public string? NotificationId { get; set; }
        /// <summary>The notification's state now (succeeded, failed).</summary>
        public string? Status { get; set; }
        /// <summary>True when the outcome had been reported already (harmless).</summary>
        public bool Duplicate { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }

    /// <summary>The device code sign-in's instructions, to show a person.</summary>
    public sealed class DeviceCodePrompt
    {
        /// <summary>The page to open.</summary>
        public string? VerificationUri { get; set; }
        /// <summary>The code to enter there.</summary>
        public string? UserCode { get; set; }
        /// <summary>The whole instruction as Azure AD words it.</summary>
        public string? Message { get; set; }
        /// <summary>Seconds until the code expires.</summary>
        public long ExpiresIn { get; set; }
        /// <summary>Members this version of the package does not know.</summary>
        [JsonExtensionData]
        public IDictionary<string, JsonElement>? AdditionalMembers { get; set; }
    }
}
