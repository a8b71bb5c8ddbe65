/* The whole job through the C ABI against tenant-attach-cloud (started by scripts/test.sh, given in
 * TA_CLOUD_URL / TA_CLOUD_CA): onboarding (import; refusal of a non-admin by device code),
 * re-onboarding, upload with progress, devices, the three actions through $batch, the site's
 * notification worker with its discovered users, status, offboarding, and a wrong secret. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "ta_test.h"

#define HIERARCHY "5f0c1a6e-0000-4000-8000-00000000c0c0"
#define HIERARCHY2 "5f0c1a6e-0000-4000-8000-00000000c0c2"
#define TENANT "c0ffee00-0000-4000-8000-000000000001"
#define SITE_APP "e0000000-0000-4000-8000-00000000c0de"
#define SITE_SECRET "c-tests~site.secret.0001"

static char url[512], ca[1024], dir[] = "/tmp/ta-c-e2e-XXXXXX";
static char err[8192];

static struct ta_client *open_in(const char *tenant, const char *hierarchy, const char *auth) {
    char json[4096];
    snprintf(json, sizeof json,
             "{\"tenantId\":\"%s\",\"siteCode\":\"PS1\",\"hierarchyId\":\"%s\","
             "\"endpoints\":{\"authority\":\"%s\",\"graph\":\"%s\",\"gateway\":\"%s\"},\"trustedCaFile\":\"%s\","
             "\"stateDir\":\"%s/state\",\"logDir\":\"%s/logs\",\"auth\":%s}",
             tenant, hierarchy, url, url, url, ca, dir, dir, auth);
    struct ta_client *c = NULL;
    if (ta_client_open(json, &c) != TA_STATUS_OK) {
        ta_test_last_error(err, sizeof err);
        printf("# open failed: %s\n", err);
    }
    return c;
}

static struct ta_client *open_client(const char *auth) { return open_in(TENANT, HIERARCHY, auth); }

static struct ta_client *person(int n) {
    char auth[128];
    snprintf(auth, sizeof auth, "{\"kind\":\"deviceCode\",\"clientId\":\"c1000000-0000-4000-8000-00000000000%d\"}", n);
    return open_client(auth);
}

static int prompts;
static void on_prompt(void *user, const char *prompt_json) {
    (void)user;
    if (strstr(prompt_json, "\"userCode\"") != NULL) ++prompts;
}

static uint64_t last_done, last_total;
static void on_progress(void *user, uint64_t done, uint64_t total) {
    ++*(int *)user;
    last_done = done;
    last_total = total;
}

/* Copies the string value after the n-th occurrence of `"key":"` into out. */
static int json_string(const char *json, const char *key, int nth, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = json;
    for (int i = 0; i <= nth; ++i) {
        p = strstr(p, pattern);
        if (p == NULL) return 0;
        p += strlen(pattern);
    }
    size_t n = 0;
    while (p[n] != '"' && p[n] != '\0' && n + 1 < size) ++n;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static char *call_json(ta_status got, ta_status want, char *out, const char *what) {
    char line[256];
    snprintf(line, sizeof line, "%s -> %s", what, ta_status_name(want));
    CHECK(got == want, line);
    if (got != TA_STATUS_OK) {
        ta_test_last_error(err, sizeof err);
        if (got != want) printf("# %s\n", err);
    }
    return out;
}

/* The JSON conforms to include/schemas/<schema>.schema.json (ta_test_validate_json, a test hook). */
static void conforms(const char *schema, const char *json, const char *what) {
    char line[256], why[8192];
    snprintf(line, sizeof line, "%s conforms to the schema %s", what, schema);
    ta_status got = json != NULL ? ta_test_validate_json(schema, json) : TA_STATUS_INVALID_ARGUMENT;
    CHECK(got == TA_STATUS_OK, line);
    if (got != TA_STATUS_OK) {
        ta_test_last_error(why, sizeof why);
        printf("# %s\n", why);
    }
}

int main(void) {
    if (!ta_test_cloud(url, sizeof url, ca, sizeof ca)) return 1;
    CHECK(mkdtemp(dir) != NULL, "a work folder");
    char *out = NULL;

    /* A non-admin cannot create the app: the device code reaches the callback, then a clear refusal. */
    struct ta_client *reader = person(4);
    CHECK(ta_client_set_device_code_callback(reader, on_prompt, NULL) == TA_STATUS_OK, "device code callback set");
    call_json(ta_client_register(reader, NULL, NULL, &out), TA_STATUS_FORBIDDEN, out, "register as reader@contoso");
    CHECK(strstr(err, "Global Administrator") != NULL, "the refusal names the Global Administrator role");
    conforms("last-error", err, "ta_last_error_json's error");
    /* The schemas are checked too: a wrong shape is refused, naming where. */
    CHECK(ta_test_validate_json("sync-report", "{\"syncId\":7}") == TA_STATUS_INVALID_JSON, "a report of the wrong shape does not conform");
    ta_test_last_error(err, sizeof err);
    CHECK(strstr(err, "\"errors\":[") != NULL && strstr(err, "syncId") != NULL, "the violations are listed, naming the member");
    CHECK(ta_test_validate_json("no-such-schema", "{}") == TA_STATUS_INVALID_ARGUMENT, "an unknown schema name is refused");
    CHECK(prompts == 1, "the device code instructions reached the C callback");

    /* A Global Administrator creates the app by device code (another hierarchy), changes its scope. */
    struct ta_client *admin = open_in(TENANT, HIERARCHY2, "{\"kind\":\"deviceCode\",\"clientId\":\"c1000000-0000-4000-8000-000000000001\"}");
    call_json(ta_client_register(admin, "{\"uploadScope\":{\"kind\":\"all\"}}", NULL, &out), TA_STATUS_OK, out, "create-app onboarding as admin@contoso");
    CHECK(out != NULL && strstr(out, "\"clientSecret\":\"") && strstr(out, "\"servicePrincipalId\":\""), "the app, its service principal and its secret (once)");
    conforms("register-result", out, "a created app's onboarding");
    ta_string_free(out);
    out = NULL;
    call_json(ta_client_set_upload_settings(admin, "{\"uploadScope\":{\"kind\":\"collection\",\"collectionId\":\"PS100012\"}}", NULL, &out), TA_STATUS_OK, out, "scope change");
    CHECK(out != NULL && strstr(out, "\"scopeVersion\":2") && strstr(out, "PS100012"), "the scope is one collection now (scopeVersion 2)");
    conforms("onboarding-record", out, "the changed settings");
    ta_string_free(out);
    out = NULL;
    call_json(ta_client_set_upload_settings(admin, "{\"uploadScope\":{\"kind\":\"some\"}}", NULL, &out), TA_STATUS_INVALID_ARGUMENT, out, "a bad scope");
    /* Fabrikam cannot attach the hierarchy Contoso holds. */
    struct ta_client *fab = open_in("fab00000-0000-4000-8000-000000000002", HIERARCHY2,
                                    "{\"kind\":\"clientSecret\",\"clientId\":\"e0000000-0000-4000-8000-00000000fab1\",\"clientSecret\":\"c-tests~fabrikam.secret.0001\"}");
    call_json(ta_client_register(fab, "{\"import\":{\"clientId\":\"e0000000-0000-4000-8000-00000000fab1\",\"clientSecret\":\"c-tests~fabrikam.secret.0001\","
                                      "\"secretExpiry\":\"2030-01-01T00:00:00Z\",\"appIdUri\":\"api://fab00000-0000-4000-8000-000000000002/ConfigMgr\"}}",
                                 NULL, &out),
              TA_STATUS_CONFLICT, out, "a second tenant attaching the hierarchy");
    CHECK(strstr(err, TENANT) != NULL, "the conflict names the tenant holding it");
    CHECK(ta_client_unregister(admin, NULL) == TA_STATUS_OK, "the admin offboards that hierarchy");
    ta_client_free(fab);
    ta_client_free(admin);

    /* The site imports its app. */
    struct ta_client *site = open_client("{\"kind\":\"clientSecret\",\"clientId\":\"" SITE_APP "\",\"clientSecret\":\"" SITE_SECRET "\"}");
    const char *import = "{\"import\":{\"clientId\":\"" SITE_APP "\",\"clientSecret\":\"" SITE_SECRET
                         "\",\"secretExpiry\":\"2030-01-01T00:00:00Z\",\"appIdUri\":\"api://" TENANT "/ConfigMgrService\"}}";
    call_json(ta_client_register(site, import, NULL, &out), TA_STATUS_OK, out, "import onboarding");
    CHECK(out != NULL && strstr(out, "\"alreadyOnboarded\":false") != NULL, "first onboarding");
    conforms("register-options", import, "the import options");
    conforms("register-result", out, "an imported app's onboarding");
    ta_string_free(out);
    out = NULL;
    call_json(ta_client_register(site, import, NULL, &out), TA_STATUS_OK, out, "onboarding again");
    CHECK(out != NULL && strstr(out, "\"alreadyOnboarded\":true") != NULL, "onboarding again converges");
    conforms("register-result", out, "onboarding again");
    ta_string_free(out);
    out = NULL;

    /* Upload, with progress. */
    const char *devices = "[{\"Name\":\"PC-\xC3\x85\xC3\x84\xC3\x96-01\",\"SMSID\":\"GUID:C0000001\",\"IsClient\":true},"
                          "{\"Name\":\"SRV-DP-01\",\"SMSID\":\"GUID:C0000002\",\"IsClient\":true,\"IsDistributionPoint\":true},"
                          "{\"Name\":\"KIOSK-03\",\"SMSID\":\"GUID:C0000003\",\"IsClient\":1},{\"Name\":\"OFF\",\"SMSID\":\"GUID:C0000004\",\"IsClient\":false}]";
    int calls = 0;
    call_json(ta_client_sync_devices(site, devices, "{\"maxRecords\":2}", on_progress, &calls, NULL, &out), TA_STATUS_OK, out, "upload");
    CHECK(out != NULL && strstr(out, "\"kind\":\"full\"") != NULL && strstr(out, "\"uploaded\":3") != NULL, "a full sync of the 3 clients");
    CHECK(calls >= 2 && last_done == 4 && last_total == 4, "progress reached 4 of 4");
    conforms("device-records", devices, "the device records");
    conforms("sync-options", "{\"maxRecords\":2}", "the sync options");
    conforms("sync-report", out, "the upload's report");
    ta_string_free(out);
    out = NULL;
    call_json(ta_client_sync_devices(site, devices, NULL, NULL, NULL, NULL, &out), TA_STATUS_OK, out, "upload again");
    CHECK(out != NULL && strstr(out, "\"kind\":\"delta\"") != NULL && strstr(out, "\"uploaded\":0") != NULL, "then a delta with nothing to send");
    ta_string_free(out);
    out = NULL;
    call_json(ta_client_sync_devices(site, "{\"not\":\"a list\"", NULL, NULL, NULL, NULL, &out), TA_STATUS_INVALID_JSON, out, "malformed devices");

    /* The deletion guard: an empty input, and a run deleting more than allowed, send nothing. */
    call_json(ta_client_sync_devices(site, "[]", NULL, NULL, NULL, NULL, &out), TA_STATUS_DELETION_REFUSED, out, "an empty device list");
    CHECK(strstr(err, "no device records") != NULL && strstr(err, "\"wouldDelete\":3") != NULL && strstr(err, "allowMassDeletion") != NULL,
          "the refusal says it would remove the 3 devices and how to allow it");
    const char *four = "[{\"Name\":\"PC-\xC3\x85\xC3\x84\xC3\x96-01\",\"SMSID\":\"GUID:C0000001\",\"IsClient\":true},"
                       "{\"Name\":\"SRV-DP-01\",\"SMSID\":\"GUID:C0000002\",\"IsClient\":true,\"IsDistributionPoint\":true},"
                       "{\"Name\":\"KIOSK-03\",\"SMSID\":\"GUID:C0000003\",\"IsClient\":1},{\"Name\":\"LAB-05\",\"SMSID\":\"GUID:C0000005\",\"IsClient\":true}]";
    call_json(ta_client_sync_devices(site, four, NULL, NULL, NULL, NULL, &out), TA_STATUS_OK, out, "a fourth device");
    ta_string_free(out);
    out = NULL;
    call_json(ta_client_sync_devices(site, devices, "{\"maxDeletions\":0}", NULL, NULL, NULL, &out), TA_STATUS_DELETION_REFUSED, out,
              "removing it with no deletions allowed");
    CHECK(strstr(err, "would remove 1 of the 4 devices") != NULL, "the refusal counts the device it would remove");
    call_json(ta_client_sync_devices(site, devices, "{\"maxDeletions\":0,\"allowMassDeletion\":true}", NULL, NULL, NULL, &out), TA_STATUS_OK, out,
              "removing it, allowed explicitly");
    CHECK(out != NULL && strstr(out, "\"deleted\":1") != NULL, "the explicit allowance goes through");
    ta_string_free(out);
    out = NULL;
    {
        char path[1200];
        snprintf(path, sizeof path, "%s/devices.ndjson", dir);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL, "an NDJSON device file");
        if (f != NULL) {
            fputs("{\"Name\":\"PC-\xC3\x85\xC3\x84\xC3\x96-01\",\"SMSID\":\"GUID:C0000001\",\"IsClient\":true}\n"
                  "{\"Name\":\"SRV-DP-01\",\"SMSID\":\"GUID:C0000002\",\"IsClient\":true,\"IsDistributionPoint\":true}\n"
                  "{\"Name\":\"KIOSK-03\",\"SMSID\":\"GUID:C0000003\",\"IsClient\":1}\n{\"SMSID\":\"GUID:C0000009\",\"IsClient\":true}\n",
                  f);
            fclose(f);
        }
        call_json(ta_client_sync_devices_file(site, path, NULL, NULL, NULL, NULL, &out), TA_STATUS_OK, out, "upload from a file");
        CHECK(out != NULL && strstr(out, "\"skippedCount\":1") != NULL, "the record without a name is skipped");
        conforms("sync-report", out, "the file upload's report");
    }
    ta_string_free(out);
    out = NULL;

    /* The admin side: list, act. */
    struct ta_client *helpdesk = person(2);
    call_json(ta_client_list_devices(helpdesk, "deviceName eq 'SRV-DP-01'", NULL, &out), TA_STATUS_OK, out, "list devices");
    char dp[64] = "", pc[64] = "";
    CHECK(out != NULL && json_string(out, "id", 0, dp, sizeof dp), "the DP is listed");
    conforms("devices", out, "the filtered device list");
    ta_string_free(out);
    out = NULL;
    call_json(ta_client_list_devices(helpdesk, NULL, NULL, &out), TA_STATUS_OK, out, "list all devices");
    CHECK(out != NULL && strstr(out, "PC-\xC3\x85\xC3\x84\xC3\x96-01") != NULL, "the non-ASCII name comes back intact");
    const char *p = out ? strstr(out, "PC-\xC3\x85\xC3\x84\xC3\x96-01") : NULL;
    while (p != NULL && p > out && strncmp(p, "\"id\":\"", 6) != 0) --p;
    if (p != NULL) json_string(p, "id", 0, pc, sizeof pc);
    ta_string_free(out);
    out = NULL;
    char ids[256];
    snprintf(ids, sizeof ids, "[\"%s\"]", dp);
    call_json(ta_client_trigger_action(helpdesk, ids, "SyncMachinePolicy", NULL, &out), TA_STATUS_OK, out, "Sync machine policy");
    CHECK(out != NULL && strstr(out, "\"result\":\"accepted\"") != NULL, "accepted");
    conforms("device-selection", ids, "the device ids");
    conforms("action-results", out, "an accepted action");
    ta_string_free(out);
    out = NULL;
    snprintf(ids, sizeof ids, "[\"%s\"]", pc);
    call_json(ta_client_trigger_action(helpdesk, ids, "App evaluation cycle", NULL, &out), TA_STATUS_OK, out, "App evaluation cycle");
    ta_string_free(out);
    out = NULL;
    snprintf(ids, sizeof ids, "[\"%s\"]", dp);
    call_json(ta_client_trigger_action(helpdesk, ids, "refreshUserPolicy", NULL, &out), TA_STATUS_OK, out, "Sync user policy (by its Graph name)");
    ta_string_free(out);
    out = NULL;
    snprintf(ids, sizeof ids, "[\"%s\"]", pc);
    call_json(ta_client_trigger_action(helpdesk, ids, "wakeUpClient", NULL, &out), TA_STATUS_UNSUPPORTED_ACTION, out, "an unsupported action");
    CHECK(strstr(err, "SyncMachinePolicy") && strstr(err, "SyncUserPolicy") && strstr(err, "AppEvaluationCycle"), "the error lists the three actions");
    struct ta_client *reader2 = person(4);
    call_json(ta_client_trigger_action(reader2, ids, "SyncUserPolicy", NULL, &out), TA_STATUS_OK, out, "an action without the permission");
    CHECK(out != NULL && strstr(out, "forbidden") != NULL && strstr(out, "Initiate Configuration Manager action") != NULL, "403 names the permission");
    conforms("action-results", out, "a forbidden action");
    ta_string_free(out);
    out = NULL;
    struct ta_client *adonly = person(3);
    call_json(ta_client_trigger_action(adonly, ids, "SyncUserPolicy", NULL, &out), TA_STATUS_OK, out, "an action by an AD-only user");
    ta_string_free(out);
    out = NULL;

    /* The site's notification worker. */
    const char *users = "[{\"aadUserId\":\"a0000000-0000-4000-8000-000000000002\",\"adDiscovered\":true,\"azureAdDiscovered\":true},"
                        "{\"aadUserId\":\"a0000000-0000-4000-8000-000000000003\",\"adDiscovered\":true,\"azureAdDiscovered\":false}]";
    char all[16384] = "";
    int decisions_conform = 1, rounds = 0;
    conforms("discovered-users", users, "the discovered users");
    for (int round = 0; round < 5 && !(strstr(all, "RequestMachinePolicy") && strstr(all, "RequestUsersPolicy") && strstr(all, "AppDeplEvalNow") && strstr(all, "\"decision\":\"refused\"")); ++round) {
        if (ta_client_receive_notifications(site, users, 5, NULL, &out) == TA_STATUS_OK && out != NULL) {
            strncat(all, out, sizeof all - strlen(all) - 1);
            ++rounds;
            if (ta_test_validate_json("decisions", out) != TA_STATUS_OK) {
                decisions_conform = 0;
                ta_test_last_error(err, sizeof err);
                printf("# %s\n", err);
            }
        }
        ta_string_free(out);
        out = NULL;
    }
    CHECK(strstr(all, "\"templateId\":\"RequestMachinePolicy\"") && strstr(all, "\"notificationType\":\"ClientNotificationRequestMachinePolicyNow\""),
          "Sync machine policy arrives with its TemplateID and notification type");
    CHECK(strstr(all, "\"templateId\":\"AppDeplEvalNow\"") && strstr(all, "\"templateNumber\":6"), "App evaluation cycle arrives with TemplateID 6");
    CHECK(strstr(all, "\"templateId\":\"RequestUsersPolicy\"") && strstr(all, "\"notificationType\":\"ClientNotificationRequestUsersPolicyNow\""),
          "Sync user policy arrives with its TemplateID and notification type");
    CHECK(strstr(all, "not found by Azure AD user discovery") != NULL, "the AD-only user is refused at the site, with the reason");
    CHECK(rounds > 0 && decisions_conform, "every answer of the notification worker conforms to the schema decisions");
    char nid[64] = "";
    const char *authorized = strstr(all, "\"decision\":\"authorized\"");
    CHECK(authorized != NULL && json_string(authorized, "notificationId", 0, nid, sizeof nid), "an authorized notification's id");
    call_json(ta_client_complete_notification(site, nid, 1, NULL, "TASK-1", NULL, &out), TA_STATUS_OK, out, "complete an action");
    conforms("completion", out, "the completion");
    ta_string_free(out);
    out = NULL;
    call_json(ta_client_list_devices(helpdesk, NULL, NULL, &out), TA_STATUS_OK, out, "list devices after the actions");
    CHECK(out != NULL && strstr(out, "\"actionState\":\"done\"") && strstr(out, "\"actionState\":\"failed\""), "the admin side sees done and failed outcomes");
    ta_string_free(out);
    out = NULL;

    call_json(ta_client_status(site, NULL, &out), TA_STATUS_OK, out, "status");
    CHECK(out != NULL && strstr(out, "\"onboarded\":true") && strstr(out, "\"nextRunTime\":\"") != NULL, "onboarded, with a next run time");
    conforms("status", out, "the status");
    ta_string_free(out);
    out = NULL;
    call_json(ta_client_config_json(site, &out), TA_STATUS_OK, out, "the effective configuration");
    conforms("config", out, "the effective configuration");
    ta_string_free(out);
    out = NULL;
    {
        /* Every endpoint on the test cloud: nothing here reaches Microsoft. */
        char json[6 * sizeof url + sizeof ca + 256];
        snprintf(json, sizeof json,
                 "{\"endpoints\":{\"authority\":\"%s\",\"graph\":\"%s\",\"gateway\":\"%s\",\"gatewayUs\":\"%s\",\"gatewayEu\":\"%s\",\"aka\":\"%s\"},"
                 "\"trustedCaFile\":\"%s\"}",
                 url, url, url, url, url, url, ca);
        struct ta_client *checker = NULL;
        CHECK(ta_client_open(json, &checker) == TA_STATUS_OK, "a client for the endpoint check");
        conforms("config", json, "a configuration");
        call_json(ta_client_test_endpoints(checker, &out), TA_STATUS_OK, out, "the endpoint check");
        CHECK(out != NULL && strstr(out, "\"reachable\":true") != NULL, "the endpoints answer");
        conforms("endpoint-checks", out, "the endpoint check");
        ta_client_free(checker);
    }
    ta_string_free(out);
    out = NULL;

    struct ta_client *wrong = open_client("{\"kind\":\"clientSecret\",\"clientId\":\"" SITE_APP "\",\"clientSecret\":\"not-the-secret\"}");
    call_json(ta_client_status(wrong, NULL, &out), TA_STATUS_AUTH_FAILED, out, "a wrong secret");
    CHECK(strstr(err, "AADSTS7000215") != NULL && strstr(err, "not-the-secret") == NULL, "the error carries AADSTS7000215, not the secret");

    CHECK(ta_client_unregister(site, NULL) == TA_STATUS_OK, "offboarding");
    call_json(ta_client_sync_devices(site, devices, NULL, NULL, NULL, NULL, &out), TA_STATUS_NOT_ONBOARDED, out, "upload after offboarding");

    ta_client_free(wrong);
    ta_client_free(adonly);
    ta_client_free(reader2);
    ta_client_free(helpdesk);
    ta_client_free(site);
    ta_client_free(reader);
    return ta_test_done();
}
