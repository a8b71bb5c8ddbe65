/* A tiny TAP-style test helper for the C tests: CHECK prints "ok N - what" or "not ok N - what";
 * ta_test_done() prints the counts and returns the exit status. */
#ifndef TA_TEST_H
#define TA_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenant_attach.h"

static int ta_test_count;
static int ta_test_failed;

#define CHECK(cond, what)                                                        \
    do {                                                                         \
        ++ta_test_count;                                                         \
        if (cond) {                                                              \
            printf("ok %d - %s\n", ta_test_count, (what));                       \
        } else {                                                                 \
            ++ta_test_failed;                                                    \
            printf("not ok %d - %s (%s:%d: %s)\n", ta_test_count, (what),         \
                   __FILE__, __LINE__, #cond);                                   \
        }                                                                        \
        fflush(stdout);                                                          \
    } while (0)

/* The last error as an owned copy of its JSON, freed through the library; "" when none. */
static inline void ta_test_last_error(char *buf, size_t size) {
    char *json = ta_last_error_json();
    buf[0] = '\0';
    if (json != NULL) {
        strncpy(buf, json, size - 1);
        buf[size - 1] = '\0';
        ta_string_free(json);
    }
}

/* The test cloud scripts/test.sh started (TA_CLOUD_URL, TA_CLOUD_CA) into url and ca; 0, with a
 * TAP failure line, when it is not given. */
static inline int ta_test_cloud(char *url, size_t url_size, char *ca, size_t ca_size) {
    const char *u = getenv("TA_CLOUD_URL"), *c = getenv("TA_CLOUD_CA");
    if (u == NULL || c == NULL || *u == '\0') {
        printf("not ok 1 - TA_CLOUD_URL and TA_CLOUD_CA must name the test cloud (scripts/test.sh starts it)\n");
        return 0;
    }
    snprintf(url, url_size, "%s", u);
    snprintf(ca, ca_size, "%s", c);
    return 1;
}

static inline int ta_test_done(void) {
    printf("# %d tests, %d passed, %d failed\n", ta_test_count, ta_test_count - ta_test_failed, ta_test_failed);
    return ta_test_failed == 0 ? 0 : 1;
}

#endif
