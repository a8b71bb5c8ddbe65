/* The end-to-end scenario from C: onboard the site (importing its app), upload devices, run Sync
 * machine policy as a helpdesk operator, then receive and complete it as the site.
 *
 *   cc -std=c11 -Iinclude examples/c/tenant_attach_demo.c -Ltarget/debug -ltenant_attach -o demo
 *   TA_CLOUD_URL=https://127.0.0.1:PORT TA_CLOUD_CA=/path/ca.pem ./demo
 *
 * Against the local cloud seeded with tests/cloud/seed.json (scripts/test.sh runs it that way). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenant_attach.h"

static char config[4096];

/* Prints the library's explanation of a failure and exits. */
static void check(ta_status status, const char *what) {
    if (status == TA_STATUS_OK) return;
    char *error = ta_last_error_json();
    fprintf(stderr, "%s failed (%s): %s\n", what, ta_status_name(status), error ? error : "");
    ta_string_free(error);
    exit(1);
}

static struct ta_client *connect(const char *url, const char *ca, const char *auth) {
    snprintf(config, sizeof config,
             "{\"tenantId\":\"contoso.onmicrosoft.com\",\"siteCode\":\"PS1\",\"hierarchyId\":\"5f0c1a6e-0000-4000-8000-0000000e0c00\","
             "\"endpoints\":{\"authority\":\"%s\",\"graph\":\"%s\",\"gateway\":\"%s\"},\"trustedCaFile\":\"%s\",\"stateDir\":\"/tmp/ta-c-demo/state\","
             "\"logDir\":\"/tmp/ta-c-demo/logs\",\"auth\":%s}",
             url, url, url, ca, auth);
    struct ta_client *client = NULL;
    check(ta_client_open(config, &client), "ta_client_open");
    return client;
}

static void show_progress(void *user, uint64_t done, uint64_t total) {
    (void)user;
    printf("  progress %llu/%llu\n", (unsigned long long)done, (unsigned long long)total);
}

/* The value of "key":"..." after `from`, copied into out. */
static const char *field(const char *from, const char *key, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = from ? strstr(from, pattern) : NULL;
    if (p == NULL) return NULL;
    p += strlen(pattern);
    size_t n = strcspn(p, "\"");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
    return p;
}

int main(void) {
    const char *url = getenv("TA_CLOUD_URL"), *ca = getenv("TA_CLOUD_CA");
    if (url == NULL || ca == NULL) {
        fprintf(stderr, "set TA_CLOUD_URL and TA_CLOUD_CA to a running tenant-attach-cloud\n");
        return 2;
    }
    printf("tenant-attach %s\n", ta_version());
    struct ta_client *site = connect(url, ca, "{\"kind\":\"clientSecret\",\"clientId\":\"e0000000-0000-4000-8000-00000000c0de\",\"clientSecret\":\"c-tests~site.secret.0001\"}");
    char *json = NULL;

    check(ta_client_register(site, "{\"import\":{\"clientId\":\"e0000000-0000-4000-8000-00000000c0de\",\"clientSecret\":\"c-tests~site.secret.0001\","
                                   "\"secretExpiry\":\"2030-01-01T00:00:00Z\",\"appIdUri\":\"api://c0ffee00-0000-4000-8000-000000000001/ConfigMgrService\"}}",
                             NULL, &json), "register");
    printf("onboarded: %.120s...\n", json);
    ta_string_free(json);

    const char *devices = "[{\"Name\":\"DEMO-G\xC3\xB6teborg-01\",\"SMSID\":\"GUID:DE000001\",\"IsClient\":true},{\"Name\":\"DEMO-02\",\"SMSID\":\"GUID:DE000002\",\"IsClient\":true}]";
    check(ta_client_sync_devices(site, devices, NULL, show_progress, NULL, NULL, &json), "upload");
    printf("upload report: %s\n", json);
    ta_string_free(json);

    /* A helpdesk operator (device code; the seeded public client is approved as helpdesk@contoso). */
    struct ta_client *helpdesk = connect(url, ca, "{\"kind\":\"deviceCode\",\"clientId\":\"c1000000-0000-4000-8000-000000000002\"}");
    check(ta_client_list_devices(helpdesk, "deviceName eq 'DEMO-02'", NULL, &json), "list devices");
    char id[64] = "", ids[128];
    field(json, "id", id, sizeof id);
    ta_string_free(json);
    snprintf(ids, sizeof ids, "[\"%s\"]", id);
    check(ta_client_trigger_action(helpdesk, ids, "SyncMachinePolicy", NULL, &json), "Sync machine policy");
    printf("triggered: %s\n", json);
    ta_string_free(json);

    /* The site's notification worker. */
    const char *users = "[{\"aadUserId\":\"a0000000-0000-4000-8000-000000000002\",\"adDiscovered\":true,\"azureAdDiscovered\":true}]";
    check(ta_client_receive_notifications(site, users, 10, NULL, &json), "receive");
    printf("received: %s\n", json);
    char nid[64] = "", task[64] = "";
    const char *authorized = strstr(json, "\"decision\":\"authorized\"");
    if (field(authorized, "notificationId", nid, sizeof nid) && field(authorized, "taskGuid", task, sizeof task)) {
        char *done = NULL;
        check(ta_client_complete_notification(site, nid, 1, NULL, task, NULL, &done), "complete");
        printf("completed: %s\n", done);
        ta_string_free(done);
    }
    ta_string_free(json);

    check(ta_client_unregister(site, NULL), "offboard");
    printf("offboarded\n");
    ta_client_free(helpdesk);
    ta_client_free(site);
    return 0;
}
