namespace TenantAttach
{
    /// <summary>The library's status of a failed call (ta_status in tenant_attach.h): the same numbers and
    /// names as TenantAttach.Interop.TaStatus, in this namespace so that an application needs no
    /// <c>using TenantAttach.Interop</c>. Values are append-only; a newer library's value keeps its number.</summary>
    public enum TenantAttachStatus
    {
        /// <summary>TA_STATUS_OK: no error.</summary>
        Ok = 0,
        /// <summary>TA_STATUS_INVALID_ARGUMENT: a missing or out-of-range argument, or a device filter the service did not apply.</summary>
        InvalidArgument = 1,
        /// <summary>TA_STATUS_INVALID_UTF8: a string was not UTF-8.</summary>
        InvalidUtf8 = 2,
        /// <summary>TA_STATUS_INVALID_JSON: JSON that does not parse (details name line and column).</summary>
        InvalidJson = 3,
        /// <summary>TA_STATUS_INVALID_CONFIG: a configuration key is unknown, of the wrong type or value.</summary>
        InvalidConfig = 4,
        /// <summary>TA_STATUS_UNSUPPORTED_CLOUD: only AzurePublicCloud is supported.</summary>
        UnsupportedCloud = 5,
        /// <summary>TA_STATUS_UNSUPPORTED_ACTION: not one of the three actions.</summary>
        UnsupportedAction = 6,
        /// <summary>TA_STATUS_NOT_ONBOARDED: the hierarchy is not onboarded.</summary>
        NotOnboarded = 7,
        /// <summary>TA_STATUS_AUTH_FAILED: the sign-in failed.</summary>
        AuthFailed = 8,
        /// <summary>TA_STATUS_FORBIDDEN: signed in, but not allowed.</summary>
        Forbidden = 9,
        /// <summary>TA_STATUS_NOT_FOUND: no such object.</summary>
        NotFound = 10,
        /// <summary>TA_STATUS_CONFLICT: the object is in another state (another tenant holds the hierarchy...).</summary>
        Conflict = 11,
        /// <summary>TA_STATUS_THROTTLED: the service kept answering 429.</summary>
        Throttled = 12,
        /// <summary>TA_STATUS_NETWORK: the service could not be reached.</summary>
        Network = 13,
        /// <summary>TA_STATUS_TLS: the TLS handshake or certificate check failed.</summary>
        Tls = 14,
        /// <summary>TA_STATUS_TIMEOUT: the service did not answer in time.</summary>
        Timeout = 15,
        /// <summary>TA_STATUS_SERVER: the service failed (5xx).</summary>
        Server = 16,
        /// <summary>TA_STATUS_STATE_LOCKED: another process holds the sync state.</summary>
        StateLocked = 17,
        /// <summary>TA_STATUS_STATE_CORRUPT: the sync state cannot be read.</summary>
        StateCorrupt = 18,
        /// <summary>TA_STATUS_CANCELLED: the call was cancelled.</summary>
        Cancelled = 19,
        /// <summary>TA_STATUS_IO: a file or folder could not be read or written.</summary>
        Io = 20,
        /// <summary>TA_STATUS_EXPIRED: a secret, code or token expired.</summary>
        Expired = 21,
        /// <summary>TA_STATUS_INTERNAL: a bug or a callback that did not return normally.</summary>
        Internal = 22,
        /// <summary>TA_STATUS_PANIC: a bug inside the library, caught at its boundary.</summary>
        Panic = 23,
        /// <summary>TA_STATUS_DELETION_REFUSED: the upload would delete too many devices (SyncOptions.AllowMassDeletion).</summary>
        DeletionRefused = 24,
        /// <summary>TA_STATUS_CALLBACK_REENTRY: a callback called into the client whose call is running it.</summary>
        CallbackReentry = 25,
    }
}
