using System;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TenantAttach
{
    /// <summary>The JSON settings of the library's inputs and outputs: camelCase members, absent
    /// members left out (the library refuses unknown or null members where it expects values).</summary>
    internal static class Json
    {
        internal static readonly JsonSerializerOptions Options = Create();

        private static JsonSerializerOptions Create()
        {
            var options = new JsonSerializerOptions
            {
                PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
                DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
                PropertyNameCaseInsensitive = false,
            };
            options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
            return options;
        }

        internal static string Write<T>(T value) => JsonSerializer.Serialize(value, Options);

        internal static T Read<T>(string? json, string what)
        {
            if (json == null) throw new InvalidOperationException("The library returned no " + what + ".");
            try
            {
                T? value = JsonSerializer.Deserialize<T>(json, Options);
                if (value == null) throw new InvalidOperationException("The library returned null as " + what + ".");
                return value;
            }
            catch (JsonException e)
            {
                throw new InvalidOperationException("The library's " + what + " could not be read: " + e.Message, e);
            }
        }
    }

    /// <summary>Writes a point in time as the library reads it: UTC, RFC 3339 (2030-01-01T00:00:00Z).</summary>
    internal sealed class Rfc3339Converter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
            => DateTimeOffset.Parse(reader.GetString() ?? "", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
            => writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
    }
}
