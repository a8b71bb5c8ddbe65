/* Bad input of every kind through the real library: each gives its own status, and
 * ta_last_error_json explains it; a panic inside an export comes back as TA_STATUS_PANIC and the
 * process lives on. */
#include <stdint.h>
#include <stdlib.h>

#include "ta_test.h"

static char err[4096];

/* Opens with `json`; checks the status, that no handle came out, and that the error names the
 * status and contains `phrase`. */
static void expect_refused(const char *json, enum ta_status want, const char *phrase, const char *what) {
    struct ta_client *client = (struct ta_client *)(uintptr_t)0x1; /* must stay untouched */
    enum ta_status got = ta_client_open(json, &client);
    char line[256];
    snprintf(line, sizeof line, "%s -> %s", what, ta_status_name(want));
    CHECK(got == want, line);
    CHECK(client == (struct ta_client *)(uintptr_t)0x1, "the out handle is left untouched on failure");
    ta_test_last_error(err, sizeof err);
    snprintf(line, sizeof line, "%s: the error JSON names %s and says \"%s\"", what, ta_status_name(want), phrase);
    CHECK(strstr(err, ta_status_name(want)) != NULL && strstr(err, phrase) != NULL, line);
    if (strstr(err, phrase) == NULL) printf("# error was: %s\n", err);
}

int main(void) {
    CHECK(strcmp(ta_version(), TA_VERSION) == 0, "ta_version() matches TA_VERSION");
    CHECK(TA_VERSION_MAJOR >= 0 && TA_VERSION_MINOR >= 0 && TA_VERSION_PATCH >= 0, "version macros are numbers");

    struct ta_client *client = NULL;
    CHECK(ta_client_open(NULL, &client) == TA_STATUS_INVALID_ARGUMENT && client == NULL, "NULL config -> INVALID_ARGUMENT");
    ta_test_last_error(err, sizeof err);
    CHECK(strstr(err, "config_json") != NULL, "the NULL error names the argument");
    CHECK(ta_client_open("{}", NULL) == TA_STATUS_INVALID_ARGUMENT, "NULL out pointer -> INVALID_ARGUMENT");

    expect_refused("{\"siteCode\":\"P\xff\xfe\"}", TA_STATUS_INVALID_UTF8, "UTF-8", "invalid UTF-8");
    expect_refused("{\"siteCode\": \"PS1\",", TA_STATUS_INVALID_JSON, "line 1", "malformed JSON");
    expect_refused("{\"siteCode\":\"PS1\",\"sitecode\":\"PS2\"}", TA_STATUS_INVALID_CONFIG, "sitecode", "an unknown key");
    expect_refused("{\"cloud\":\"AzureUSGovernment\",\"tenantId\":\"72f988bf-86f1-41af-91ab-2d7cd011db47\"}",
                   TA_STATUS_UNSUPPORTED_CLOUD, "AzurePublicCloud", "AzureUSGovernment");
    expect_refused("{\"endpoints\":{\"graph\":\"http://graph.contoso.com\"}}", TA_STATUS_INVALID_CONFIG, "https",
                   "plain http to a non-loopback host");

    /* The statuses are distinct. */
    enum ta_status seen[] = {TA_STATUS_INVALID_ARGUMENT, TA_STATUS_INVALID_UTF8, TA_STATUS_INVALID_JSON,
                             TA_STATUS_INVALID_CONFIG, TA_STATUS_UNSUPPORTED_CLOUD};
    int distinct = 1;
    for (size_t i = 0; i < sizeof seen / sizeof seen[0]; ++i)
        for (size_t j = i + 1; j < sizeof seen / sizeof seen[0]; ++j)
            if (seen[i] == seen[j]) distinct = 0;
    CHECK(distinct, "the five refusals have five distinct statuses");

    /* Success clears the last error; outputs are freed with ta_string_free. */
    CHECK(ta_client_open("{\"siteCode\":\"PS1\"}", &client) == TA_STATUS_OK && client != NULL, "a valid config opens");
    char *tmp = ta_last_error_json();
    CHECK(tmp == NULL, "no last error after a successful call");
    ta_string_free(tmp);
    char *config = NULL;
    CHECK(ta_client_config_json(client, &config) == TA_STATUS_OK && strstr(config, "\"siteCode\":\"PS1\"") != NULL,
          "ta_client_config_json returns the effective configuration");
    ta_string_free(config);
    CHECK(ta_client_config_json(NULL, &config) == TA_STATUS_INVALID_ARGUMENT, "NULL client -> INVALID_ARGUMENT");
    ta_client_free(client);

    ta_client_free(NULL);
    ta_string_free(NULL);
    CHECK(1, "ta_client_free(NULL) and ta_string_free(NULL) are no-ops");
    CHECK(strcmp(ta_status_name(9999), "TA_STATUS_UNKNOWN") == 0, "an unknown status value has a name");

    /* A panic inside an export. */
    CHECK(ta_test_panic() == TA_STATUS_PANIC, "a panic inside an export returns TA_STATUS_PANIC");
    ta_test_last_error(err, sizeof err);
    CHECK(strstr(err, "TA_STATUS_PANIC") != NULL, "the panic is explained in the last error");
    CHECK(ta_client_open("{\"siteCode\":\"PS1\"}", &client) == TA_STATUS_OK, "the process and the library live on");
    ta_client_free(client);

    return ta_test_done();
}
