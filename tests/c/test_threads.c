#define _POSIX_C_SOURCE 200809L
/* Eight threads opening, using and freeing clients, one client shared by all of them, and a log
 * folder: no data race, no leak (ASan), every thread's last error its own. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "ta_test.h"

#define THREADS 8
#define ROUNDS 50

static struct ta_client *shared;
static char config_json[1024];

static void *worker(void *arg) {
    long id = (long)arg;
    long failures = 0;
    for (int i = 0; i < ROUNDS; ++i) {
        struct ta_client *own = NULL;
        if (ta_client_open(config_json, &own) != TA_STATUS_OK) ++failures;
        ta_client_free(own);
        char *json = NULL;
        if (ta_client_config_json(shared, &json) != TA_STATUS_OK) ++failures;
        ta_string_free(json);
        /* A thread's last error is its own. */
        if (id % 2 == 0) {
            if (ta_client_open("{\"bogus\":1}", &own) != TA_STATUS_INVALID_CONFIG) ++failures;
            char *e = ta_last_error_json();
            if (e == NULL || strstr(e, "bogus") == NULL) ++failures;
            ta_string_free(e);
        } else {
            char *e = ta_last_error_json();
            if (e != NULL) ++failures;
            ta_string_free(e);
        }
    }
    return (void *)failures;
}

int main(void) {
    char dir[] = "/tmp/ta-c-threads-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "a temporary folder");
    snprintf(config_json, sizeof config_json, "{\"siteCode\":\"PS1\",\"logDir\":\"%s/logs\"}", dir);
    CHECK(ta_client_open(config_json, &shared) == TA_STATUS_OK, "the shared client opens with a log folder");

    char log_path[1200];
    snprintf(log_path, sizeof log_path, "%s/logs/TenantAttach.log", dir);
    CHECK(access(log_path, F_OK) == 0, "TenantAttach.log is created in logDir");

    pthread_t threads[THREADS];
    for (long t = 0; t < THREADS; ++t) pthread_create(&threads[t], NULL, worker, (void *)t);
    long failures = 0;
    for (int t = 0; t < THREADS; ++t) {
        void *r = NULL;
        pthread_join(threads[t], &r);
        failures += (long)r;
    }
    CHECK(failures == 0, "8 threads x 50 rounds: opens, shared use and per-thread errors all right");
    ta_client_free(shared);

    FILE *log = fopen(log_path, "r");
    char line[4096];
    int entries = 0, well_formed = 0;
    while (log != NULL && fgets(line, sizeof line, log) != NULL) {
        ++entries;
        if (strncmp(line, "<![LOG[", 7) == 0 && strstr(line, "]LOG]!><time=\"") != NULL && strstr(line, "\r\n") != NULL) ++well_formed;
    }
    if (log != NULL) fclose(log);
    CHECK(entries > THREADS * ROUNDS && entries == well_formed, "every log line written by every thread is a whole CMTrace entry");
    return ta_test_done();
}
