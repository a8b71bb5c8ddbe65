/* A runbook-style certificate sign-in through the C ABI against tenant-attach-cloud (started by
 * scripts/test.sh, given in TA_CLOUD_URL / TA_CLOUD_CA): the cloud made the certificates
 * (TA_CLOUD_CERT_DIR: runbook.pfx registered on the certificate runbook app, expired.pfx, and
 * stranger.pfx the app does not have; password TA_CLOUD_CERT_PASSWORD). A registered certificate
 * signs in and lists devices; an expired one, a wrong password and a missing file are refused when
 * the client opens; an unknown one gets Azure AD's AADSTS700027. The password never shows. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "ta_test.h"

#define TENANT "c0ffee00-0000-4000-8000-000000000001"
#define CERT_APP "e0000000-0000-4000-8000-00000000ce0c"

static char url[512], ca[1024], certs[1024], password[256];
static char err[8192];

/* ta_client_open with a clientCertificate auth for `file` (under TA_CLOUD_CERT_DIR) and `pw`. */
static ta_status open_with(const char *file, const char *pw, struct ta_client **out) {
    char json[8192];
    snprintf(json, sizeof json,
             "{\"tenantId\":\"%s\",\"siteCode\":\"PS1\","
             "\"endpoints\":{\"authority\":\"%s\",\"graph\":\"%s\",\"gateway\":\"%s\"},\"trustedCaFile\":\"%s\","
             "\"auth\":{\"kind\":\"clientCertificate\",\"clientId\":\"%s\",\"certificateFile\":\"%s/%s\",\"certificatePassword\":\"%s\"}}",
             TENANT, url, url, url, ca, CERT_APP, certs, file, pw);
    *out = NULL;
    ta_status s = ta_client_open(json, out);
    ta_test_last_error(err, sizeof err);
    return s;
}

int main(void) {
    if (!ta_test_cloud(url, sizeof url, ca, sizeof ca)) return 1;
    const char *d = getenv("TA_CLOUD_CERT_DIR"), *p = getenv("TA_CLOUD_CERT_PASSWORD");
    if (d == NULL || p == NULL || *d == '\0') {
        printf("not ok 1 - TA_CLOUD_CERT_DIR and TA_CLOUD_CERT_PASSWORD must name the test certificates (scripts/test.sh makes them)\n");
        return 1;
    }
    snprintf(certs, sizeof certs, "%s", d);
    snprintf(password, sizeof password, "%s", p);

    /* The registered certificate: the client opens, signs in with it and lists devices. */
    struct ta_client *c = NULL;
    CHECK(open_with("runbook.pfx", password, &c) == TA_STATUS_OK && c != NULL, "a client opens with a PFX certificate and its password");
    if (c != NULL) {
        char *config = NULL;
        CHECK(ta_client_config_json(c, &config) == TA_STATUS_OK && config != NULL && strstr(config, "\"kind\":\"clientCertificate\"") != NULL &&
                  strstr(config, "\"certificatePassword\":\"***\"") != NULL && strstr(config, password) == NULL,
              "the effective configuration shows the certificate sign-in with the password as ***");
        ta_string_free(config);
        char *devices = NULL;
        ta_status s = ta_client_list_devices(c, NULL, NULL, &devices);
        if (s != TA_STATUS_OK) {
            ta_test_last_error(err, sizeof err);
            printf("# %s\n", err);
        }
        CHECK(s == TA_STATUS_OK && devices != NULL && devices[0] == '[', "signed in with the certificate, the runbook lists the devices");
        ta_string_free(devices);
        ta_client_free(c);
    }

    /* An expired certificate: refused at open, saying so and what to do. */
    CHECK(open_with("expired.pfx", password, &c) == TA_STATUS_EXPIRED && c == NULL && strstr(err, "expired on") != NULL &&
              strstr(err, "create a new certificate") != NULL && strstr(err, password) == NULL,
          "an expired certificate: TA_STATUS_EXPIRED at open, with what to do");

    /* A wrong password and a missing file: refused at open, naming the key to fix. */
    CHECK(open_with("runbook.pfx", "c-tests~wrong.password", &c) == TA_STATUS_INVALID_CONFIG && c == NULL &&
              strstr(err, "\"path\":\"auth.certificatePassword\"") != NULL && strstr(err, "wrong.password") == NULL,
          "a wrong PFX password: TA_STATUS_INVALID_CONFIG naming auth.certificatePassword, the password not shown");
    CHECK(open_with("missing.pfx", password, &c) == TA_STATUS_INVALID_CONFIG && c == NULL && strstr(err, "\"path\":\"auth.certificateFile\"") != NULL,
          "a missing certificate file: TA_STATUS_INVALID_CONFIG naming auth.certificateFile");

    /* A certificate the app does not have: the sign-in fails with Azure AD's AADSTS700027. */
    CHECK(open_with("stranger.pfx", password, &c) == TA_STATUS_OK && c != NULL, "a client opens with a valid but unregistered certificate");
    if (c != NULL) {
        char *devices = NULL;
        ta_status s = ta_client_list_devices(c, NULL, NULL, &devices);
        ta_test_last_error(err, sizeof err);
        CHECK(s == TA_STATUS_AUTH_FAILED && devices == NULL && strstr(err, "\"serviceCode\":\"AADSTS700027\"") != NULL && strstr(err, "\"httpStatus\":401") != NULL &&
                  strstr(err, password) == NULL,
              "an unregistered certificate: TA_STATUS_AUTH_FAILED with serviceCode AADSTS700027 and HTTP 401");
        ta_client_free(c);
    }
    return ta_test_done();
}
