using System;
using System.Text.Json;

namespace TenantAttach
{
    /// <summary>A call the library refused or that failed: the status and the library's message, with
    /// the service's error code, HTTP status and request ID where there was a service answer.</summary>
    public class TenantAttachException : Exception
    {
        /// <summary>Wraps the interop layer's exception (the library's last error).</summary>
        public TenantAttachException(TenantAttach.Interop.TenantAttachException error)
            : base((error ?? throw new ArgumentNullException(nameof(error))).Message, error)
        {
            Status = (TenantAttachStatus)(int)error.Status;
            StatusName = error.StatusName;
            Kind = error.Kind;
            HttpStatus = error.HttpStatus;
            RequestId = error.RequestId;
            ServiceCode = error.ServiceCode;
            ErrorJson = error.ErrorJson;
            Details = Parse(error.Details);
        }

        /// <summary>The library's status (ta_status), e.g. <see cref="TenantAttachStatus.Forbidden"/>.</summary>
        public TenantAttachStatus Status { get; }
        /// <summary>The status as the C header names it, e.g. TA_STATUS_FORBIDDEN.</summary>
        public string StatusName { get; }
        /// <summary>The library's snake_case error kind, e.g. forbidden.</summary>
        public string? Kind { get; }
        /// <summary>The HTTP status of the service's answer, when there was one.</summary>
        public int? HttpStatus { get; }
        /// <summary>The service's request ID, to quote to its support.</summary>
        public string? RequestId { get; }
        /// <summary>The service's own error code (AADSTS7000215, FilterNotApplied...), when there was one.</summary>
        public string? ServiceCode { get; }
        /// <summary>Details of the error (the offending key, line and column, counts...), or null.</summary>
        public JsonElement? Details { get; }
        /// <summary>The whole error as the library gave it (ta_last_error_json).</summary>
        public string? ErrorJson { get; }

        private static JsonElement? Parse(string? json)
        {
            if (string.IsNullOrEmpty(json)) return null;
            try
            {
                using (JsonDocument document = JsonDocument.Parse(json!))
                    return document.RootElement.Clone();
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }

    /// <summary>The native tenant_attach library could not be loaded, or implements another ABI than
    /// this package was built for (ta_abi_version).</summary>
    public class TenantAttachLibraryException : Exception
    {
        /// <summary>Creates the exception.</summary>
        public TenantAttachLibraryException(string message, Exception? inner, int expectedAbiVersion, int? actualAbiVersion)
            : base(message, inner)
        {
            ExpectedAbiVersion = expectedAbiVersion;
            ActualAbiVersion = actualAbiVersion;
        }

        /// <summary>The ABI version this package was built for (TA_ABI_VERSION of its header).</summary>
        public int ExpectedAbiVersion { get; }
        /// <summary>The ABI version the loaded library implements, or null when none was loaded.</summary>
        public int? ActualAbiVersion { get; }
    }
}
