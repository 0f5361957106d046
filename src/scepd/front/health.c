#include "scepd/front/health.h"
#include "scepd/log.h"
#include "scepd/ops/ops.h"
#include "scepd/relay/relay.h"
#include "scepd/state/rollover.h"
#include "util/error_internal.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void reply(struct scepd_http_response *response, unsigned status, const char *text)
{
    size_t len = strlen(text);
    response->body = malloc(len + 1);
    if (response->body == NULL) {
        response->status = 500;
        return;
    }
    memcpy(response->body, text, len);
    response->body_len = len;
    response->status = status;
    response->content_type = "text/plain";
    if (status == 503)
        response->retry_after = SCEPD_OP_RETRY_AFTER;
}

/* Whether `ca`'s certificate in use now is within its validity. */
static int ca_usable(const struct scepd_generation *generation, const struct scepd_ca *ca,
                     time_t now)
{
    const scep_ca *active = scepd_ca_active(generation, ca, now);
    X509 *cert = active != NULL ? scep_ca_cert(active) : NULL;
    return cert != NULL && X509_cmp_time(X509_get0_notBefore(cert), &now) < 0 &&
           X509_cmp_time(X509_get0_notAfter(cert), &now) > 0;
}

void scepd_health(struct scepd_server *server, const struct scepd_http_request *request,
                  struct scepd_http_response *response)
{
    if (strcmp(request->method, "GET") != 0 && strcmp(request->method, "HEAD") != 0) {
        reply(response, 405, "only GET\n");
        return;
    }
    char text[256];
    scep_store *store = NULL;
    int64_t revision = 0;
    int rc = scepd_server_store(&store, server);
    if (rc == SCEP_OK)
        rc = scep_store_config_revision(&revision, store);
    if (rc < 0) {
        snprintf(text, sizeof(text), "store unreachable: %.200s\n", scep_error_message());
        scepd_log(SCEPD_LOG_DEBUG, "event=health status=503 detail=\"store unreachable\"");
        if (rc == SCEP_EUNAVAILABLE)
            scepd_server_store_drop(server);
        reply(response, 503, text);
        return;
    }
    /* A relay has no CA of its own; while it can queue, it serves (operations.md). */
    unsigned relay_status = (unsigned)scepd_relay_health(text, sizeof(text), server);
    if (relay_status != 0) {
        reply(response, relay_status, text);
        return;
    }
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    time_t now = time(NULL);
    int usable = 0;
    for (size_t i = 0; !usable && i < generation->alias_count; i++)
        usable = ca_usable(generation, generation->aliases[i].ca, now);
    scepd_generation_release(generation);
    if (!usable) {
        scepd_log(SCEPD_LOG_DEBUG, "event=health status=503 detail=\"no usable CA\"");
        reply(response, 503, "no alias with a CA certificate valid now\n");
        return;
    }
    reply(response, 200, "ok\n");
}
