/* Hostile input through the C ABI: invalid UTF-8 in every string argument, JSON nested 100,000
 * deep, strings of many megabytes, duplicate SMSIDs, control characters and CMTrace markup in
 * device names, broken device files. Each gets a clear status and message, or is handled; the
 * library never crashes, never leaks (ASan/valgrind run this file too), and the client stays
 * usable. Runs against tenant-attach-cloud (TA_CLOUD_URL / TA_CLOUD_CA, from scripts/test.sh). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <sys/stat.h>

#include "ta_test.h"

#define HIERARCHY "5f0c1a6e-0000-4000-8000-00000000c0c5"
#define TENANT "c0ffee00-0000-4000-8000-000000000001"
#define SITE_APP "e0000000-0000-4000-8000-00000000c0de"
#define SITE_SECRET "c-tests~site.secret.0001"
#define BAD_UTF8 "\xC3\x28\xFF"
#define DEPTH 100000

static char url[512], ca[1024], dir[] = "/tmp/ta-c-hostile-XXXXXX";
static char err[1 << 16];

/* Calls must fail with `want`, leave *out untouched, and explain themselves in a bounded message
 * holding `phrase`. */
static void refused(ta_status got, ta_status want, char *out, const char *phrase, const char *what) {
    char line[512];
    snprintf(line, sizeof line, "%s -> %s", what, ta_status_name(want));
    CHECK(got == want, line);
    ta_test_last_error(err, sizeof err);
    if (got != want) printf("# got %s: %s\n", ta_status_name(got), err);
    snprintf(line, sizeof line, "%s: the error says \"%s\" in under 8 KB and leaves the output alone", what, phrase);
    CHECK(strstr(err, phrase) != NULL && strlen(err) < 8192 && out == NULL, line);
    if (strstr(err, phrase) == NULL) printf("# error: %.300s\n", err);
}

/* '[' * depth, then ']' * depth, wrapped in prefix/suffix. Caller frees. */
static char *nested(const char *prefix, const char *open, const char *close, const char *suffix, size_t depth) {
    size_t lo = strlen(open), lc = strlen(close), lp = strlen(prefix), ls = strlen(suffix);
    char *s = malloc(lp + depth * (lo + lc) + ls + 1), *p = s;
    if (s == NULL) return NULL;
    memcpy(p, prefix, lp), p += lp;
    for (size_t i = 0; i < depth; ++i) memcpy(p, open, lo), p += lo;
    for (size_t i = 0; i < depth; ++i) memcpy(p, close, lc), p += lc;
    memcpy(p, suffix, ls), p += ls;
    *p = '\0';
    return s;
}

/* A JSON string value of n copies of c, wrapped in prefix/suffix. Caller frees. */
static char *huge(const char *prefix, char c, size_t n, const char *suffix) {
    size_t lp = strlen(prefix), ls = strlen(suffix);
    char *s = malloc(lp + n + ls + 1);
    if (s == NULL) return NULL;
    memcpy(s, prefix, lp);
    memset(s + lp, c, n);
    memcpy(s + lp + n, suffix, ls + 1);
    return s;
}

static struct ta_client *open_as(const char *auth) {
    char json[4096];
    snprintf(json, sizeof json,
             "{\"tenantId\":\"" TENANT "\",\"siteCode\":\"PS1\",\"hierarchyId\":\"" HIERARCHY "\","
             "\"endpoints\":{\"authority\":\"%s\",\"graph\":\"%s\",\"gateway\":\"%s\"},\"trustedCaFile\":\"%s\","
             "\"stateDir\":\"%s/state\",\"logDir\":\"%s/logs\",\"auth\":%s}",
             url, url, url, ca, dir, dir, auth);
    struct ta_client *c = NULL;
    if (ta_client_open(json, &c) != TA_STATUS_OK) {
        ta_test_last_error(err, sizeof err);
        printf("# open failed: %s\n", err);
    }
    return c;
}

static struct ta_client *open_site(void) {
    return open_as("{\"kind\":\"clientSecret\",\"clientId\":\"" SITE_APP "\",\"clientSecret\":\"" SITE_SECRET "\"}");
}

/* The helpdesk person (device code, approved by the test cloud): the admin center's view. */
static struct ta_client *open_helpdesk(void) {
    return open_as("{\"kind\":\"deviceCode\",\"clientId\":\"c1000000-0000-4000-8000-000000000002\"}");
}

static size_t count(const char *text, const char *what) {
    size_t n = 0;
    for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what)) ++n;
    return n;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s != NULL && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s != NULL) s[n] = '\0';
    fclose(f);
    return s;
}

static void config_attacks(void) {
    struct ta_client *client = NULL;
    char *deep = nested("", "[", "]", "", DEPTH);
    refused(ta_client_open(deep, &client), TA_STATUS_INVALID_JSON, (char *)client, "recursion limit", "a configuration nested 100,000 deep");
    free(deep);
    deep = nested("{\"endpoints\":", "{\"a\":[", "]}", "}", DEPTH);
    ta_status got = ta_client_open(deep, &client);
    CHECK((got == TA_STATUS_INVALID_JSON || got == TA_STATUS_INVALID_CONFIG) && client == NULL, "objects nested 100,000 deep under a known key are refused");
    free(deep);

    char *big = huge("{\"siteCode\":\"", 'A', 32u << 20, "\"}");
    refused(ta_client_open(big, &client), TA_STATUS_INVALID_CONFIG, (char *)client, "siteCode", "a 32 MB siteCode");
    free(big);
    big = huge("{\"", 'k', 8u << 20, "\":1}");
    refused(ta_client_open(big, &client), TA_STATUS_INVALID_CONFIG, (char *)client, "unknown", "an unknown key 8 MB long");
    free(big);
    refused(ta_client_open("{\"siteCode\":\"P\\u0000S\"}", &client), TA_STATUS_INVALID_CONFIG, (char *)client, "siteCode", "a NUL escaped inside a value");
    refused(ta_client_open("{\"siteCode\":\"PS1\",\"siteCode\":\"PS2\"}", &client), TA_STATUS_INVALID_CONFIG, (char *)client, "duplicate", "a key given twice");
    refused(ta_client_open("{\"siteCode\":\"PS" BAD_UTF8 "\"}", &client), TA_STATUS_INVALID_UTF8, (char *)client, "UTF-8", "invalid UTF-8 inside a value");
}

int main(void) {
    if (!ta_test_cloud(url, sizeof url, ca, sizeof ca)) return 1;
    CHECK(mkdtemp(dir) != NULL, "a work folder");

    config_attacks();

    struct ta_client *site = open_site();
    CHECK(site != NULL, "the site's client opens");
    char *out = NULL;
    const char *import = "{\"import\":{\"clientId\":\"" SITE_APP "\",\"clientSecret\":\"" SITE_SECRET
                         "\",\"secretExpiry\":\"2030-01-01T00:00:00Z\",\"appIdUri\":\"api://" TENANT "/ConfigMgrService\"}}";
    CHECK(ta_client_register(site, import, NULL, &out) == TA_STATUS_OK, "the site onboards");
    ta_string_free(out);
    out = NULL;

    /* Invalid UTF-8 in every string argument. */
    refused(ta_client_register(site, "{\"import\":\"" BAD_UTF8 "\"}", NULL, &out), TA_STATUS_INVALID_UTF8, out, "options_json", "register options");
    refused(ta_client_set_upload_settings(site, BAD_UTF8, NULL, &out), TA_STATUS_INVALID_UTF8, out, "settings_json", "upload settings");
    refused(ta_client_sync_devices(site, "[{\"Name\":\"" BAD_UTF8 "\"}]", NULL, NULL, NULL, NULL, &out), TA_STATUS_INVALID_UTF8, out, "devices_json", "devices");
    refused(ta_client_sync_devices(site, "[]", BAD_UTF8, NULL, NULL, NULL, &out), TA_STATUS_INVALID_UTF8, out, "options_json", "sync options");
    refused(ta_client_sync_devices_file(site, "/tmp/" BAD_UTF8, NULL, NULL, NULL, NULL, &out), TA_STATUS_INVALID_UTF8, out, "path", "a device file path");
    refused(ta_client_list_devices(site, "deviceName eq '" BAD_UTF8 "'", NULL, &out), TA_STATUS_INVALID_UTF8, out, "filter", "a filter");
    refused(ta_client_trigger_action(site, "[\"" BAD_UTF8 "\"]", "SyncMachinePolicy", NULL, &out), TA_STATUS_INVALID_UTF8, out, "device_ids_json", "device ids");
    refused(ta_client_trigger_action(site, "[\"x\"]", "Sync" BAD_UTF8, NULL, &out), TA_STATUS_INVALID_UTF8, out, "action", "an action name");
    refused(ta_client_receive_notifications(site, BAD_UTF8, 1, NULL, &out), TA_STATUS_INVALID_UTF8, out, "discovered_users_json", "discovered users");
    refused(ta_client_complete_notification(site, BAD_UTF8, 1, NULL, NULL, NULL, &out), TA_STATUS_INVALID_UTF8, out, "notification_id", "a notification id");
    refused(ta_client_complete_notification(site, "x", 0, "why " BAD_UTF8, NULL, NULL, &out), TA_STATUS_INVALID_UTF8, out, "reason", "a reason");

    /* JSON nested 100,000 deep in every JSON argument. */
    char *deep = nested("", "[", "]", "", DEPTH);
    CHECK(ta_client_sync_devices(site, deep, "{\"dryRun\":true}", NULL, NULL, NULL, &out) == TA_STATUS_OK && out != NULL, "a device list whose one record is an array nested 100,000 deep");
    CHECK(out != NULL && strstr(out, "the record is an array") != NULL, "skips that record with its reason");
    ta_string_free(out);
    out = NULL;
    refused(ta_client_sync_devices(site, "[]", deep, NULL, NULL, NULL, &out), TA_STATUS_INVALID_JSON, out, "must be a JSON object", "sync options nested 100,000 deep");
    refused(ta_client_sync_devices(site, "[]", "[\"full\",true]", NULL, NULL, NULL, &out), TA_STATUS_INVALID_JSON, out, "must be a JSON object", "sync options given as an array");
    refused(ta_client_sync_devices(site, "[]", "{\"dryRun\":true,\"dryRun\":false}", NULL, NULL, NULL, &out), TA_STATUS_INVALID_JSON, out, "duplicate field `dryRun`", "sync options with a key given twice");
    refused(ta_client_trigger_action(site, deep, "SyncMachinePolicy", NULL, &out), TA_STATUS_INVALID_JSON, out, "device_ids_json", "device ids nested 100,000 deep");
    refused(ta_client_receive_notifications(site, deep, 1, NULL, &out), TA_STATUS_INVALID_JSON, out, "discovered users", "discovered users nested 100,000 deep");
    refused(ta_client_register(site, deep, NULL, &out), TA_STATUS_INVALID_JSON, out, "must be a JSON object", "register options nested 100,000 deep");
    free(deep);
    deep = nested("[{\"Name\":\"PC\",\"SMSID\":\"GUID:D1\",\"IsClient\":true,\"Extra\":", "{\"a\":[", "]}", "}]", DEPTH);
    /* serde_json skips an unknown member without recursing, so this is an ordinary device. */
    CHECK(ta_client_sync_devices(site, deep, "{\"dryRun\":true}", NULL, NULL, NULL, &out) == TA_STATUS_OK && out != NULL && strstr(out, "\"skipped\":[]") != NULL,
          "an unknown property nested 100,000 deep is ignored and the device kept");
    if (out != NULL && strstr(out, "\"skipped\":[]") == NULL) printf("# report: %.300s\n", out);
    ta_string_free(out);
    out = NULL;
    free(deep);

    /* Duplicate SMSIDs, control characters and CMTrace markup in names, a huge name: a dry run
     * first (nothing sent), then the upload, then read back as the admin center would. */
    const char *devices =
        "[{\"Name\":\"PC-1\",\"SMSID\":\"GUID:D0000001\",\"IsClient\":true},"
        "{\"Name\":\"PC-1-again\",\"SMSID\":\"GUID:D0000001\",\"IsClient\":true},"
        "{\"Name\":\"BEL\\u0007TAB\\tNL\\nEND ]LOG]!><![LOG[x\",\"SMSID\":\"GUID:D0000002\",\"IsClient\":true},"
        "{\"Name\":\"<script>alert(1)</script>\",\"SMSID\":\"GUID:D0000003\",\"IsClient\":true},"
        "{\"Name\":\"NUL\",\"SMSID\":\"GUID:D\\u0000004\",\"IsClient\":true}]";
    CHECK(ta_client_sync_devices(site, devices, "{\"dryRun\":true}", NULL, NULL, NULL, &out) == TA_STATUS_OK && out != NULL, "a dry run of hostile records");
    CHECK(out != NULL && strstr(out, "\"uploaded\":0") == NULL, "the dry run reports what would be sent");
    ta_string_free(out);
    out = NULL;
    CHECK(ta_client_sync_devices(site, devices, NULL, NULL, NULL, NULL, &out) == TA_STATUS_OK && out != NULL, "the hostile records upload");
    CHECK(out != NULL && strstr(out, "\"uploaded\":3") != NULL, "three devices uploaded: the duplicate and the NUL-in-SMSID record are not");
    CHECK(out != NULL && strstr(out, "appears earlier in the input") != NULL, "the duplicate SMSID is skipped with its reason");
    CHECK(out != NULL && strstr(out, "control characters") != NULL, "the SMSID with a NUL is skipped with its reason");
    ta_string_free(out);
    out = NULL;
    struct ta_client *helpdesk = open_helpdesk();
    CHECK(helpdesk != NULL && ta_client_list_devices(helpdesk, NULL, NULL, &out) == TA_STATUS_OK && out != NULL, "the devices read back through Graph");
    ta_client_free(helpdesk);
    CHECK(out != NULL && strstr(out, "BEL\\u0007TAB\\tNL\\nEND ]LOG]!><![LOG[x") != NULL, "the name with control characters and markup comes back intact, escaped");
    CHECK(out != NULL && strstr(out, "PC-1-again") == NULL && strstr(out, "\"PC-1\"") != NULL, "the first record of a duplicate SMSID is the one kept");
    ta_string_free(out);
    out = NULL;

    char *big = huge("[{\"SMSID\":\"GUID:D0000005\",\"IsClient\":true,\"Name\":\"", 'N', 4u << 20, "\"}]");
    CHECK(ta_client_sync_devices(site, big, "{\"mode\":\"partial\"}", NULL, NULL, NULL, &out) == TA_STATUS_OK && out != NULL, "a device whose name is 4 MB");
    CHECK(out != NULL && strstr(out, "\"uploaded\":0") != NULL && strstr(out, "Name is 4194304 characters long") != NULL,
          "is skipped with a reason that gives its length, not its text");
    CHECK(out != NULL && strlen(out) < 8192, "and the report stays small");
    ta_string_free(out);
    out = NULL;
    free(big);

    /* The sync log stays readable: every entry's markup is the library's own. */
    char path[1200];
    snprintf(path, sizeof path, "%s/logs/CMGatewaySyncUploadWorker.log", dir);
    char *log = read_file(path);
    CHECK(log != NULL && count(log, "<![LOG[") == count(log, "]LOG]!>") && count(log, "]LOG]!>") == count(log, "\r\n"),
          "every CMTrace entry opens and closes once: no markup injected");
    free(log);

    /* Broken device files. */
    snprintf(path, sizeof path, "%s/devices.ndjson", dir);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fputs("{\"Name\":\"F1\",\"SMSID\":\"GUID:F1\",\"IsClient\":true}\n[1]\n{\"Name\":\"F" BAD_UTF8 "\",\"SMSID\":\"GUID:F3\"}\n", f);
        fclose(f);
    }
    refused(ta_client_sync_devices_file(site, path, "{\"mode\":\"partial\"}", NULL, NULL, NULL, &out), TA_STATUS_INVALID_UTF8, out, "line 3", "a device file with invalid UTF-8 on line 3");
    refused(ta_client_sync_devices_file(site, dir, NULL, NULL, NULL, NULL, &out), TA_STATUS_INVALID_ARGUMENT, out, dir, "a folder given as the device file");
    snprintf(path, sizeof path, "%s/missing.ndjson", dir);
    refused(ta_client_sync_devices_file(site, path, NULL, NULL, NULL, NULL, &out), TA_STATUS_IO, out, "missing.ndjson", "a device file that does not exist");

    /* After all that, the client still works. */
    CHECK(ta_client_status(site, NULL, &out) == TA_STATUS_OK && out != NULL && strstr(out, "\"onboarded\":true") != NULL, "the client still works");
    ta_string_free(out);
    CHECK(ta_client_unregister(site, NULL) == TA_STATUS_OK, "the site offboards");
    ta_client_free(site);
    return ta_test_done();
}
