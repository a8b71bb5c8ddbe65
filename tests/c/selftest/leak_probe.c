/* Not a test of the library: a probe run by scripts/test.sh to prove that LeakSanitizer sees memory
 * the Rust library allocates. The library is not built with ASan, but Rust's default allocator
 * calls malloc/realloc, which ASan intercepts process-wide; so a string the library returned and
 * the caller forgot to free must be reported. If this probe ever exits cleanly, the C suite's
 * detect_leaks=1 would be proving nothing, and scripts/test.sh fails. */
#include <stdio.h>

#include "tenant_attach.h"

int main(void) {
    struct ta_client *client = NULL;
    if (ta_client_open("{\"siteCode\":\"PS1\"}", &client) != TA_STATUS_OK) return 2;
    char *json = NULL;
    if (ta_client_config_json(client, &json) != TA_STATUS_OK) return 2;
    printf("leaking %p on purpose\n", (void *)json);
    json = NULL; /* the leak: never passed to ta_string_free */
    ta_client_free(client);
    return 0;
}
