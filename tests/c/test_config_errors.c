/* Bad input of every kind through the real library: each gives its own status, and
 * ta_last_error_json explains it; a panic inside an export comes back as TA_STATUS_PANIC and the
 * process lives on. */
#include <stdint.h>
#include <stdlib.h>

#include "ta_test.h"

static char err[4096];

/* Opens with `json`; checks the status, that no handle came out, and that the error names the
 * status and contains `phrase`. Returns the status the library gave. */
static ta_status expect_refused(const char *json, ta_status want, const char *phrase, const char *what) {
    struct ta_client *client = (struct ta_client *)(uintptr_t)0x1; /* must stay untouched */
    ta_status got = ta_client_open(json, &client);
    char line[256];
    snprintf(line, sizeof line, "%s -> %s", what, ta_status_name(want));
    CHECK(got == want, line);
    CHECK(client == (struct ta_client *)(uintptr_t)0x1, "the out handle is left untouched on failure");
    ta_test_last_error(err, sizeof err);
    snprintf(line, sizeof line, "%s: the error JSON names %s and says \"%s\"", what, ta_status_name(want), phrase);
    CHECK(strstr(err, ta_status_name(want)) != NULL && strstr(err, phrase) != NULL, line);
    if (strstr(err, phrase) == NULL) printf("# error was: %s\n", err);
    return got;
}

int main(void) {
    CHECK(strcmp(ta_version(), TA_VERSION) == 0, "ta_version() matches TA_VERSION");
    char parts[64];
    snprintf(parts, sizeof parts, "%d.%d.%d", TA_VERSION_MAJOR, TA_VERSION_MINOR, TA_VERSION_PATCH);
    CHECK(strcmp(parts, TA_VERSION) == 0, "TA_VERSION_MAJOR.MINOR.PATCH spell TA_VERSION");

    /* What each kind of bad input actually returned: they must be pairwise distinct. */
    ta_status seen[5];
    struct ta_client *client = NULL;
    seen[0] = ta_client_open(NULL, &client);
    CHECK(seen[0] == TA_STATUS_INVALID_ARGUMENT && client == NULL, "NULL config -> INVALID_ARGUMENT");
    ta_test_last_error(err, sizeof err);
    CHECK(strstr(err, "config_json") != NULL, "the NULL error names the argument");
    CHECK(ta_client_open("{}", NULL) == TA_STATUS_INVALID_ARGUMENT, "NULL out pointer -> INVALID_ARGUMENT");

    seen[1] = expect_refused("{\"siteCode\":\"P\xff\xfe\"}", TA_STATUS_INVALID_UTF8, "UTF-8", "invalid UTF-8");
    seen[2] = expect_refused("{\"siteCode\": \"PS1\",", TA_STATUS_INVALID_JSON, "line 1", "malformed JSON");
    seen[3] = expect_refused("{\"siteCode\":\"PS1\",\"sitecode\":\"PS2\"}", TA_STATUS_INVALID_CONFIG, "sitecode", "an unknown key");
    seen[4] = expect_refused("{\"cloud\":\"AzureUSGovernment\",\"tenantId\":\"72f988bf-86f1-41af-91ab-2d7cd011db47\"}",
                   TA_STATUS_UNSUPPORTED_CLOUD, "AzurePublicCloud", "AzureUSGovernment");
    expect_refused("{\"endpoints\":{\"graph\":\"http://graph.contoso.com\"}}", TA_STATUS_INVALID_CONFIG, "https",
                   "plain http to a non-loopback host");

    int distinct = 1;
    for (size_t i = 0; i < sizeof seen / sizeof seen[0]; ++i) {
        if (seen[i] == TA_STATUS_OK) distinct = 0;
        for (size_t j = i + 1; j < sizeof seen / sizeof seen[0]; ++j)
            if (seen[i] == seen[j]) distinct = 0;
    }
    CHECK(distinct, "NULL, bad UTF-8, bad JSON, unknown key and another cloud gave five distinct non-OK statuses");

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

    /* Secrets never come back: not in the effective configuration, not in an error about it. */
    const char *with_secret =
        "{\"siteCode\":\"PS1\",\"auth\":{\"kind\":\"clientSecret\","
        "\"clientId\":\"0d6f1b1e-8f3c-4c3a-9d0e-1a2b3c4d5e6f\",\"clientSecret\":\"Zq8~c.test.secret.value\"}}";
    config = NULL;
    CHECK(ta_client_open(with_secret, &client) == TA_STATUS_OK && ta_client_config_json(client, &config) == TA_STATUS_OK
              && strstr(config, "\"clientSecret\":\"***\"") != NULL && strstr(config, "c.test.secret") == NULL,
          "the effective configuration shows the client secret as \"***\"");
    ta_string_free(config);
    ta_client_free(client);
    expect_refused("{\"auth\":{\"kind\":\"clientSecret\",\"clientId\":\"x\",\"clientSecret\":\"Zq8~c.test.secret.value\","
                   "\"tenant\":1}}",
                   TA_STATUS_INVALID_CONFIG, "tenant", "an unknown key beside a client secret");
    CHECK(strstr(err, "c.test.secret") == NULL, "the error about that configuration does not echo the secret");

    ta_client_free(NULL);
    ta_string_free(NULL);
    ta_cancel_free(NULL);
    ta_cancel_set(NULL);
    CHECK(ta_client_open("{}", &client) == TA_STATUS_OK, "NULL frees are no-ops: the library works on after them");
    ta_client_free(client);
    struct ta_cancel *cancel = ta_cancel_new();
    CHECK(cancel != NULL && ta_cancel_is_set(cancel) == 0, "a new cancel flag is unset");
    ta_cancel_set(cancel);
    ta_cancel_set(cancel);
    CHECK(ta_cancel_is_set(cancel) == 1 && ta_cancel_is_set(NULL) == 0, "a cancel flag stays set; NULL reads as unset");
    ta_cancel_free(cancel);
    CHECK(strcmp(ta_status_name(9999), "TA_STATUS_UNKNOWN") == 0, "an unknown status value has a name");

    /* A panic inside an export. */
    CHECK(ta_test_panic() == TA_STATUS_PANIC, "a panic inside an export returns TA_STATUS_PANIC");
    ta_test_last_error(err, sizeof err);
    CHECK(strstr(err, "TA_STATUS_PANIC") != NULL, "the panic is explained in the last error");
    CHECK(ta_client_open("{\"siteCode\":\"PS1\"}", &client) == TA_STATUS_OK, "the process and the library live on");
    ta_client_free(client);

    return ta_test_done();
}
