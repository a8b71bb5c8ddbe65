/* What a host must survive (issue 18), against tenant-attach-cloud (TA_CLOUD_URL / TA_CLOUD_CA):
 *  - every file of the state folder after a real sync, truncated, bit-flipped or with a huge count,
 *    then status and sync: no abort, no sanitizer report, and the next good sync converges;
 *  - callbacks that call into their own client (refused with TA_STATUS_CALLBACK_REENTRY, no
 *    deadlock), into another client (works), and that free the running call's client and cancel
 *    (deferred: the call stops as if cancelled; no use-after-free under ASan and valgrind, no leak);
 *  - no last error after a success whose callback made a failing call;
 *  - a caller waiting on another thread's sign-in stops when its own cancel is set;
 *  - ta_abi_version matches the header. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ta_test.h"

#define HIERARCHY "5f0c1a6e-0000-4000-8000-00000000c0d0"
#define TENANT "c0ffee00-0000-4000-8000-000000000001"
#define ADMIN "{\"kind\":\"deviceCode\",\"clientId\":\"c1000000-0000-4000-8000-000000000001\"}"
#define DEVICES 30

static char url[512], ca[1024], dir[] = "/tmp/ta-c-robust-XXXXXX";
static char err[8192];

static struct ta_client *open_with(const char *auth) {
    char json[4096];
    snprintf(json, sizeof json,
             "{\"tenantId\":\"%s\",\"siteCode\":\"PS1\",\"hierarchyId\":\"%s\","
             "\"endpoints\":{\"authority\":\"%s\",\"graph\":\"%s\",\"gateway\":\"%s\"},\"trustedCaFile\":\"%s\","
             "\"stateDir\":\"%s/state\",\"logDir\":\"%s/logs\",\"auth\":%s}",
             TENANT, HIERARCHY, url, url, url, ca, dir, dir, auth);
    struct ta_client *c = NULL;
    if (ta_client_open(json, &c) != TA_STATUS_OK) {
        ta_test_last_error(err, sizeof err);
        printf("# open failed: %s\n", err);
    }
    return c;
}

static int json_string(const char *json, const char *key, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = json ? strstr(json, pattern) : NULL;
    if (p == NULL) return 0;
    p += strlen(pattern);
    size_t n = 0;
    while (p[n] != '"' && p[n] != '\0' && n + 1 < size) ++n;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static char ndjson_path[600];

/* Syncs the inventory file; returns the status and keeps the report's "kind" and "uploaded". */
static ta_status sync_file(struct ta_client *c, char *kind, size_t kind_size, long *uploaded) {
    char *out = NULL;
    ta_status s = ta_client_sync_devices_file(c, ndjson_path, NULL, NULL, NULL, NULL, &out);
    if (s == TA_STATUS_OK) {
        json_string(out, "kind", kind, kind_size);
        const char *u = strstr(out, "\"uploaded\":");
        *uploaded = u ? strtol(u + 11, NULL, 10) : -1;
    } else {
        ta_test_last_error(err, sizeof err);
        snprintf(kind, kind_size, "error");
    }
    ta_string_free(out);
    return s;
}

static long cloud_devices(struct ta_client *admin) {
    char *out = NULL;
    long n = -1;
    if (ta_client_list_devices(admin, NULL, NULL, &out) == TA_STATUS_OK) {
        n = 0;
        for (const char *p = out; (p = strstr(p, "\"deviceName\":\"ROBUST-")) != NULL; ++p) ++n;
    }
    ta_string_free(out);
    return n;
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)n + 1);
    *len = fread(bytes, 1, (size_t)n, f);
    fclose(f);
    return bytes;
}

static void write_file(const char *path, const unsigned char *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return;
    fwrite(bytes, 1, len, f);
    fclose(f);
}

/* The variant `which` of a file: 0 truncated to half, 1 a bit flipped in the middle, 2 its first
 * number of two digits or more replaced by a huge count. Returns the new length (0: no such variant). */
static size_t damage(const unsigned char *good, size_t len, int which, unsigned char *out) {
    if (which == 0) {
        memcpy(out, good, len / 2);
        return len / 2;
    }
    memcpy(out, good, len);
    if (which == 1) {
        out[len / 2] ^= 0x10;
        return len;
    }
    for (size_t i = 0; i + 1 < len; ++i) {
        /* A count: digits after ':' (a JSON header) or a space (the line cache's header). */
        if ((good[i] == ':' || good[i] == ' ') && good[i + 1] >= '0' && good[i + 1] <= '9') {
            size_t j = i + 1;
            while (j < len && good[j] >= '0' && good[j] <= '9') ++j;
            if (j - i - 1 < 2) continue;
            static const char huge[] = "72567767433232";
            size_t n = 0;
            memcpy(out, good, i + 1);
            n = i + 1;
            memcpy(out + n, huge, sizeof huge - 1);
            n += sizeof huge - 1;
            memcpy(out + n, good + j, len - j);
            return n + len - j;
        }
    }
    return 0;
}

/* --- callbacks ----------------------------------------------------------------------------------- */

static struct ta_client *running, *other;
static struct ta_cancel *running_cancel;
static int reentry_status = -1, other_status = -1, progress_calls;
static int free_in_progress; /* 1: free the client; 2: free the client and the cancel */

static void progress_reenters(void *user, uint64_t done, uint64_t total) {
    (void)user;
    (void)done;
    (void)total;
    if (progress_calls++ > 0) return;
    char *out = NULL;
    reentry_status = ta_client_status(running, NULL, &out); /* same client: refused */
    ta_string_free(out);
    out = NULL;
    other_status = ta_client_list_devices(other, NULL, NULL, &out); /* another client: works */
    ta_string_free(out);
    /* A failing call last, so that its error is this thread's last error when the sync returns. */
    struct ta_client *none = NULL;
    ta_status failed = ta_client_open("{\"bogus\":1}", &none);
    (void)failed;
    if (free_in_progress >= 1) ta_client_free(running);
    if (free_in_progress >= 2) ta_cancel_free(running_cancel);
}

static int prompt_reentry = -1, prompt_set_cb = -1, prompts;
static void prompt_reenters(void *user, const char *prompt_json) {
    (void)prompt_json;
    ++prompts;
    struct ta_client *self = user;
    char *out = NULL;
    prompt_reentry = ta_client_list_devices(self, NULL, NULL, &out); /* would wait for itself */
    ta_string_free(out);
    prompt_set_cb = ta_client_set_device_code_callback(self, NULL, NULL);
    if (free_in_progress) ta_client_free(self);
}

/* One thread signs in by device code and holds its prompt until the other thread, waiting for that
 * sign-in, has given up on its own cancel. */
static volatile int prompt_started, waiter_done, saw_waiter_done;
static void prompt_holds(void *user, const char *prompt_json) {
    (void)user;
    (void)prompt_json;
    prompt_started = 1;
    for (int i = 0; i < 400 && !waiter_done; ++i) nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    saw_waiter_done = waiter_done;
}

static struct ta_client *shared_signin;
static int signer_status = -1, waiter_status = -1;
static void *signer(void *arg) {
    (void)arg;
    char *out = NULL;
    signer_status = ta_client_list_devices(shared_signin, NULL, NULL, &out);
    ta_string_free(out);
    return NULL;
}
static void *waiter(void *cancel) {
    char *out = NULL;
    waiter_status = ta_client_list_devices(shared_signin, NULL, cancel, &out);
    ta_string_free(out);
    waiter_done = 1;
    return NULL;
}

int main(void) {
    if (!ta_test_cloud(url, sizeof url, ca, sizeof ca)) return 1;
    CHECK(mkdtemp(dir) != NULL, "a work folder");
    CHECK(ta_abi_version() == TA_ABI_VERSION, "ta_abi_version() is the header's TA_ABI_VERSION");
    /* Give up rather than hang: a deadlock fails the run instead of stalling it. */
    alarm(240);

    /* Onboard (a Global Administrator creates the app), then sync as the site with its secret. */
    struct ta_client *admin = open_with(ADMIN);
    char *out = NULL;
    ta_status s = ta_client_register(admin, NULL, NULL, &out);
    char app[64] = "", secret[256] = "";
    CHECK(s == TA_STATUS_OK && json_string(out, "appId", app, sizeof app) && json_string(out, "clientSecret", secret, sizeof secret),
          "onboarded, with the created app's id and secret");
    ta_string_free(out);
    char auth[512];
    snprintf(auth, sizeof auth, "{\"kind\":\"clientSecret\",\"clientId\":\"%s\",\"clientSecret\":\"%s\"}", app, secret);
    struct ta_client *site = open_with(auth);

    snprintf(ndjson_path, sizeof ndjson_path, "%s/devices.ndjson", dir);
    FILE *f = fopen(ndjson_path, "w");
    for (int i = 0; i < DEVICES; ++i)
        fprintf(f, "{\"Name\":\"ROBUST-%02d\",\"SMSID\":\"GUID:D00000%02d\",\"IsClient\":true,\"CollectionIDs\":[\"SMS00001\"]}\n", i, i);
    fclose(f);
    char kind[32];
    long uploaded = -1;
    CHECK(sync_file(site, kind, sizeof kind, &uploaded) == TA_STATUS_OK && uploaded == DEVICES, "a first full sync of 30 devices");
    CHECK(sync_file(site, kind, sizeof kind, &uploaded) == TA_STATUS_OK && uploaded == 0, "a no-change run writes the line cache too");

    /* Every file of the state folder, damaged three ways. */
    char state[700];
    snprintf(state, sizeof state, "%s/state/%s", dir, HIERARCHY);
    char names[16][256];
    int files = 0;
    DIR *d = opendir(state);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL && files < 16;)
        if (e->d_name[0] != '.') snprintf(names[files++], sizeof names[0], "%s", e->d_name);
    if (d != NULL) closedir(d);
    int has_state = 0, has_lines = 0;
    for (int i = 0; i < files; ++i) {
        has_state |= strcmp(names[i], "DeviceSync.state") == 0;
        has_lines |= strcmp(names[i], "DeviceSync.lines") == 0;
    }
    CHECK(has_state && has_lines, "the state folder holds the snapshot and the line cache");
    int cases = 0, survived = 0, converged = 0;
    for (int i = 0; i < files; ++i) {
        if (strstr(names[i], ".corrupt-") != NULL) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", state, names[i]);
        for (int which = 0; which < 3; ++which) {
            size_t len = 0;
            unsigned char *good = read_file(path, &len);
            if (good == NULL) continue;
            unsigned char *bad = malloc(len + 64);
            size_t bad_len = damage(good, len, which, bad);
            if (bad_len > 0 || which == 0) {
                ++cases;
                write_file(path, bad, bad_len);
                out = NULL;
                ta_status st = ta_client_status(site, NULL, &out);
                ta_string_free(out);
                ta_status sy = sync_file(site, kind, sizeof kind, &uploaded);
                /* Surviving is the point; a status that explains is fine (a damaged lock file is
                 * not even read). */
                if (st == TA_STATUS_OK && (sy == TA_STATUS_OK || sy == TA_STATUS_STATE_CORRUPT)) ++survived;
                else printf("# %s variant %d: status %s, sync %s: %s\n", names[i], which, ta_status_name(st), ta_status_name(sy), err);
                if (sync_file(site, kind, sizeof kind, &uploaded) == TA_STATUS_OK && uploaded == 0) ++converged;
                else printf("# %s variant %d: the next sync did not converge (%s, uploaded %ld): %s\n", names[i], which, kind, uploaded, err);
            }
            free(bad);
            free(good);
        }
    }
    char line[200];
    snprintf(line, sizeof line, "%d damaged variants of %d state files: status and sync survive every one", cases, files);
    CHECK(cases >= 9 && survived == cases, line);
    CHECK(converged == cases, "after each, the next sync converges with nothing left to send");
    CHECK(cloud_devices(admin) == DEVICES, "the cloud holds exactly the 30 devices");

    /* Callbacks calling in: the same client is refused, another works, the last error is cleared. */
    running = site;
    other = admin;
    out = NULL;
    s = ta_client_sync_devices_file(site, ndjson_path, NULL, progress_reenters, NULL, NULL, &out);
    ta_string_free(out);
    CHECK(s == TA_STATUS_OK, "a sync whose progress callback calls into clients succeeds");
    CHECK(reentry_status == TA_STATUS_CALLBACK_REENTRY, "a call on the same client from its progress callback -> TA_STATUS_CALLBACK_REENTRY");
    CHECK(other_status == TA_STATUS_OK, "a call on another client from the callback works");
    char *last = ta_last_error_json();
    CHECK(last == NULL, "after that success, ta_last_error_json() is NULL though the callback's last call failed");
    ta_string_free(last);

    /* The device code callback calling into its own client: no deadlock on the sign-in. */
    struct ta_client *person = open_with(ADMIN);
    CHECK(ta_client_set_device_code_callback(person, prompt_reenters, person) == TA_STATUS_OK, "device code callback set");
    out = NULL;
    s = ta_client_list_devices(person, NULL, NULL, &out);
    ta_string_free(out);
    CHECK(s == TA_STATUS_OK && prompts == 1, "the sign-in completes although its prompt called into the client");
    CHECK(prompt_reentry == TA_STATUS_CALLBACK_REENTRY && prompt_set_cb == TA_STATUS_CALLBACK_REENTRY,
          "calls on the client from its device code callback -> TA_STATUS_CALLBACK_REENTRY, not a deadlock");
    ta_client_free(person);

    /* Freeing from inside callbacks: deferred until the running call returns. */
    free_in_progress = 1;
    prompts = 0;
    person = open_with(ADMIN);
    CHECK(ta_client_set_device_code_callback(person, prompt_reenters, person) == TA_STATUS_OK, "device code callback set again");
    out = NULL;
    s = ta_client_list_devices(person, NULL, NULL, &out);
    ta_string_free(out);
    CHECK(s == TA_STATUS_CANCELLED && prompts == 1, "a client freed from its own device code callback stops its call as cancelled, then is released");

    struct ta_client *doomed = open_with(auth);
    running = doomed;
    progress_calls = 0;
    out = NULL;
    s = ta_client_sync_devices_file(doomed, ndjson_path, NULL, progress_reenters, NULL, NULL, &out);
    ta_string_free(out);
    CHECK(s == TA_STATUS_OK || s == TA_STATUS_CANCELLED, "a client freed from its progress callback ends its call cleanly, then is released");

    free_in_progress = 2;
    doomed = open_with(auth);
    running = doomed;
    running_cancel = ta_cancel_new();
    progress_calls = 0;
    out = NULL;
    s = ta_client_sync_devices_file(doomed, ndjson_path, "{\"mode\":\"full\"}", progress_reenters, NULL, running_cancel, &out);
    ta_string_free(out);
    CHECK(s == TA_STATUS_OK || s == TA_STATUS_CANCELLED, "freeing the client and the cancel from the callback: the call ends cleanly");
    /* (ASan, LeakSanitizer and valgrind check that both were released once, after the call.) */

    /* A caller waiting for another thread's sign-in honours its own cancel. */
    shared_signin = open_with(ADMIN);
    CHECK(ta_client_set_device_code_callback(shared_signin, prompt_holds, NULL) == TA_STATUS_OK, "a prompt that waits");
    struct ta_cancel *cancel = ta_cancel_new();
    pthread_t a, b;
    pthread_create(&a, NULL, signer, NULL);
    for (int i = 0; i < 400 && !prompt_started; ++i) nanosleep(&(struct timespec){0, 25 * 1000 * 1000}, NULL);
    pthread_create(&b, NULL, waiter, cancel);
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    ta_cancel_set(cancel);
    pthread_join(b, NULL);
    pthread_join(a, NULL);
    CHECK(waiter_status == TA_STATUS_CANCELLED && saw_waiter_done, "a call waiting on another thread's sign-in stops on its own cancel, meanwhile");
    CHECK(signer_status == TA_STATUS_OK, "the sign-in itself completes");
    ta_cancel_free(cancel);
    ta_client_free(shared_signin);

    CHECK(ta_client_unregister(admin, NULL) == TA_STATUS_OK, "offboarded");
    ta_client_free(site);
    ta_client_free(admin);
    alarm(0);
    return ta_test_done();
}
