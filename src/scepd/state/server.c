#include "scepd/state/server.h"
#include "scepd/log.h"
#include "scepd/state/racert.h"
#include "scepd/state/metrics.h"
#include "scepd/state/rollover.h"
#include "scepd/state/watch.h"
#include "issuance/issuance.h"
#include "ca/profiles.h"
#include "util/error_internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static void close_thread_store(void *store)
{
    scep_store_close(store);
}

int scepd_server_store(scep_store **out, struct scepd_server *server)
{
    scep_store *store = pthread_getspecific(server->store_key);
    if (store == NULL) {
        scepd_store_open_fn open = atomic_load(&server->store_open);
        int rc = (open != NULL ? open : scep_store_open_with)(&store, server->database,
                                                              &server->store_options);
        if (rc < 0)
            return rc;
        if (pthread_setspecific(server->store_key, store) != 0) {
            scep_store_close(store);
            return scep_fail(SCEP_ENOMEM, "cannot keep the store connection");
        }
    }
    *out = store;
    return SCEP_OK;
}

void scepd_server_store_drop(struct scepd_server *server)
{
    scep_store *store = pthread_getspecific(server->store_key);
    if (store == NULL)
        return;
    (void)pthread_setspecific(server->store_key, NULL);
    scep_store_close(store);
}

static int load_ca(struct scepd_ca *out, const scep_store_ca *row)
{
    int rc = SCEP_OK;
    GUARD(scep_ca_load_stored(&out->ca, &out->warnings, row));
    out->name = strdup(row->name);
    ENSURE_ALLOC(out->name);

cleanup:
    return rc;
}

static void warn_ca(const struct scepd_ca *ca)
{
    for (unsigned bit = 1; bit != 0 && bit <= ca->warnings; bit <<= 1)
        if (ca->warnings & bit)
            scepd_log(SCEPD_LOG_WARN, "event=ca_warning ca=%s warning=\"%s\"", ca->name,
                      scep_ca_warning_text(bit));
}

/*
 * The revision is read before the CAs, so that a change made while they load moves it
 * past what this generation records and the watcher loads again.
 */
/* Whether the current generation already has this CA with this certificate. */
static int ca_known(const struct scepd_generation *current, const struct scepd_ca *ca)
{
    for (size_t i = 0; current != NULL && i < current->ca_count; i++)
        if (strcmp(current->cas[i].name, ca->name) == 0)
            return X509_cmp(scep_ca_cert(current->cas[i].ca), scep_ca_cert(ca->ca)) == 0;
    return 0;
}

static int load_cas(struct scepd_generation *generation, struct scepd_server *server)
{
    int rc = SCEP_OK;
    const struct scepd_generation *current = scepd_generation_acquire(server);
    scep_store *store = NULL;
    scep_store_ca *rows = NULL;
    size_t count = 0;

    GUARD(scepd_server_store(&store, server));
    GUARD(scep_store_config_revision(&generation->revision, store));
    GUARD(scep_store_ca_list(&rows, &count, store));
    generation->cas = calloc(count ? count : 1, sizeof(*generation->cas));
    ENSURE_ALLOC(generation->cas);
    for (size_t i = 0; i < count; i++) {
        rc = load_ca(&generation->cas[i], &rows[i]);
        if (rc < 0) {
            rc = scep_fail(rc, "CA %s: %s", rows[i].name, scep_error_message());
            goto cleanup;
        }
        generation->ca_count++;
        /* Reloads follow every change in the store: a CA's warnings are told once. */
        if (!ca_known(current, &generation->cas[i]))
            warn_ca(&generation->cas[i]);
    }

cleanup:
    scepd_generation_release(current);
    scep_store_ca_list_free(rows, count);
    return rc;
}

static const struct scepd_ca *find_ca(const struct scepd_generation *generation, const char *name)
{
    for (size_t i = 0; i < generation->ca_count; i++)
        if (strcmp(generation->cas[i].name, name) == 0)
            return &generation->cas[i];
    return NULL;
}

/* The CAs an alias serves: its own first, then those `ALIAS.cas` names (any case). */
static int resolve_cas(struct scepd_alias *alias, const struct scepd_generation *generation)
{
    alias->cas[0] = alias->ca;
    alias->ca_count = 1;
    const struct scep_config_list *names = &alias->settings->cas;
    for (size_t i = 0; i < names->count; i++) {
        const struct scepd_ca *found = find_ca(generation, names->items[i]);
        for (size_t k = 0; found == NULL && k < generation->ca_count; k++)
            if (strcasecmp(generation->cas[k].name, names->items[i]) == 0)
                found = &generation->cas[k];
        if (found == NULL)
            return scep_fail(SCEP_ECONFIG,
                             "alias %s: cas names \"%s\", which is not in the store (see scepctl "
                             "ca list)",
                             alias->name, names->items[i]);
        int listed = 0;
        for (size_t k = 0; k < alias->ca_count; k++)
            listed |= alias->cas[k] == found;
        if (listed)
            continue;
        if (alias->ca_count >= SCEPD_ALIAS_CAS_MAX)
            return scep_fail(SCEP_ECONFIG, "alias %s: too many CAs", alias->name);
        alias->cas[alias->ca_count++] = found;
    }
    return SCEP_OK;
}

static int is_self_signed(X509 *cert)
{
    return X509_check_issued(cert, cert) == X509_V_OK;
}

/*
 * GetCACert (RFC 8894 §4.2.1): a CA without intermediates is one DER
 * certificate; otherwise a certs-only bundle, the CA first (the certificate to
 * encrypt to, interop.md §14), the root only when the alias asks for it.
 */
static int build_ca_cert_reply(struct scepd_alias *alias)
{
    int rc = SCEP_OK;
    STACK_OF(X509) *bundle = sk_X509_new_null();
    ENSURE_ALLOC(bundle);
    X509 *ca_cert = scep_ca_cert(alias->ca->ca);
    STACK_OF(X509) *chain = scep_ca_chain(alias->ca->ca);
    sk_X509_push(bundle, ca_cert);
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *cert = sk_X509_value(chain, i);
        if (is_self_signed(cert) && !alias->settings->includeroot)
            continue;
        sk_X509_push(bundle, cert);
    }
    if (alias->ra != NULL) {
        GUARD(scepd_racert_ca_cert_body(&alias->ca_cert, &alias->ca_cert_len, &alias->ca_cert_type,
                                        alias->ra, alias->ca->ca, alias->settings->includeroot));
    } else if (sk_X509_num(bundle) == 1) {
        unsigned char *der = NULL;
        int len = i2d_X509(ca_cert, &der);
        ENSURE_OSSL(len > 0, SCEP_ECRYPTO, "cannot encode the CA certificate");
        alias->ca_cert = der;
        alias->ca_cert_len = (size_t)len;
        alias->ca_cert_type = "application/x-x509-ca-cert";
    } else {
        GUARD(scep_certs_only_build(&alias->ca_cert, &alias->ca_cert_len, bundle, NULL));
        alias->ca_cert_type = "application/x-x509-ca-ra-cert";
    }

    /* What follows the issued certificate in a CertRep when includeca is on (interop.md §15). */
    alias->reply_chain = sk_X509_new_null();
    ENSURE_ALLOC(alias->reply_chain);
    sk_X509_push(alias->reply_chain, ca_cert);
    for (int i = 0; i < sk_X509_num(chain); i++)
        sk_X509_push(alias->reply_chain, sk_X509_value(chain, i));

cleanup:
    sk_X509_free(bundle);
    return rc;
}

/*
 * A relay alias (operationmode = relay) has no CA on this node: it opens envelopes with
 * its RA key and hands the requests to the CA node (relay/). What GetCACert and GetCACaps
 * say comes from what the CA node pushed, so nothing is built here but the RA.
 */
static int resolve_relay_alias(struct scepd_alias *alias, const struct scep_config_global *global)
{
    const struct scep_config_alias_settings *settings = alias->settings;
    if (settings->ra_cert == NULL || settings->ra_cert[0] == '\0')
        return scep_fail(SCEP_ECONFIG,
                         "alias %s: operationmode = relay needs ra.cert and ra.key (the relay "
                         "opens and signs SCEP messages with them; scepctl ra issue on the CA "
                         "node makes them)",
                         alias->name);
    if (global->relay_listen.count == 0)
        return scep_fail(SCEP_ECONFIG,
                         "alias %s: operationmode = relay needs relay_listen (where the CA node "
                         "connects)",
                         alias->name);
    alias->legacy = global->legacy_algorithms && settings->legacy;
    alias->caps = SCEP_CAP_AES | SCEP_CAP_DES3 | SCEP_CAP_POST_PKI_OPERATION | SCEP_CAP_SHA1 |
                  SCEP_CAP_SHA256 | SCEP_CAP_SHA384 | SCEP_CAP_SHA512 | SCEP_CAP_SCEP_STANDARD;
    return scepd_racert_load(alias);
}

/* The relay channel's settings go together; one process is a relay or a CA node, not both. */
static int check_relay_settings(const struct scep_config_global *global)
{
    int listen = global->relay_listen.count > 0;
    int connect = global->relay_connect.count > 0;
    if (!listen && !connect)
        return SCEP_OK;
    if (listen && connect)
        return scep_fail(SCEP_ECONFIG, "relay_listen and relay_connect are both set: a node is "
                                       "either the relay or the CA node");
    if (global->relay_tls_cert == NULL || global->relay_tls_key == NULL ||
        global->relay_tls_ca == NULL)
        return scep_fail(SCEP_ECONFIG,
                         "%s needs relay_tls_cert, relay_tls_key and relay_tls_ca (mutual TLS)",
                         listen ? "relay_listen" : "relay_connect");
    /* relay_tls_ca may vouch for more than this relay's CA node (other relays, other CA
     * nodes): the relay hands decrypted requests to one named peer only. */
    if (listen && global->relay_peer_name == NULL)
        return scep_fail(SCEP_ECONFIG, "relay_listen needs relay_peer_name: the name in the CA "
                                       "node's channel certificate");
    if (connect && global->relay_peer_name != NULL)
        return scep_fail(SCEP_ECONFIG, "relay_peer_name is a relay node's setting; a CA node "
                                       "checks the relay against relay_connect's host");
    return SCEP_OK;
}

static int resolve_alias(struct scepd_alias *alias, const struct scepd_generation *generation,
                         const struct scep_config_global *global, const char *name,
                         const struct scep_config_alias_settings *settings)
{
    int ra = settings->operationmode == SCEP_ALIAS_MODE_RA;
    const char *ca_name = ra ? settings->ra_defaultca : settings->defaultca;
    const char *profile = ra ? settings->ra_certificateprofile : settings->certificateprofile;

    snprintf(alias->name, sizeof(alias->name), "%s", name);
    alias->settings = settings;
    if (ra && settings->ra_onetimechallenges != SCEP_ALIAS_CHALLENGES_REQUIRE &&
        (settings->ra_authpwd == NULL || settings->ra_authpwd[0] == '\0'))
        scepd_log(SCEPD_LOG_WARN,
                  "event=config_warning detail=\"alias %s: operationmode = ra without "
                  "ra.authPwd: any request is issued\"",
                  name);
    if (settings->webhook_url != NULL && settings->webhook_secret == NULL)
        scepd_log(SCEPD_LOG_WARN,
                  "event=config_warning detail=\"alias %s: webhook.url without webhook.secret: "
                  "requests to the webhook are not signed\"",
                  name);
    /* request_timeout bounds the whole request, the webhook's wait included. */
    if (settings->webhook_url != NULL &&
        settings->webhook_timeout * (settings->webhook_retries + 1) >= global->request_timeout)
        scepd_log(SCEPD_LOG_WARN,
                  "event=config_warning detail=\"alias %s: webhook.timeout x (webhook.retries + "
                  "1) = %llds reaches request_timeout (%llds): slow webhook answers cut the "
                  "request\"",
                  name, settings->webhook_timeout * (settings->webhook_retries + 1),
                  global->request_timeout);
    if (settings->operationmode == SCEP_ALIAS_MODE_RELAY)
        return resolve_relay_alias(alias, global);
    if (ca_name != NULL) {
        alias->ca = find_ca(generation, ca_name);
        if (alias->ca == NULL)
            return scep_fail(SCEP_ECONFIG,
                             "alias %s: CA \"%s\" is not in the store (see scepctl ca list)", name,
                             ca_name);
    } else if (generation->ca_count == 1) {
        alias->ca = &generation->cas[0];
    } else {
        return scep_fail(SCEP_ECONFIG,
                         generation->ca_count == 0
                             ? "alias %s: there is no CA yet (create one with scepctl ca init)"
                             : "alias %s: several CAs exist; set %s.defaultca",
                         name, name);
    }
    if (scep_profile_named(&alias->profile, profile) < 0)
        return scep_fail(SCEP_ECONFIG, "alias %s: unknown certificate profile \"%s\" (known: %s)",
                         name, profile, scep_profile_names());
    alias->legacy = global->legacy_algorithms && settings->legacy;

    /* interop.md §16: list only what this alias does. SHA-384 is for strongSwan. */
    alias->caps = SCEP_CAP_AES | SCEP_CAP_DES3 | SCEP_CAP_POST_PKI_OPERATION | SCEP_CAP_SHA1 |
                  SCEP_CAP_SHA256 | SCEP_CAP_SHA384 | SCEP_CAP_SHA512 | SCEP_CAP_SCEP_STANDARD;
    if (settings->clientcertificaterenewal)
        alias->caps |= SCEP_CAP_RENEWAL;
    int rc = resolve_cas(alias, generation);
    if (rc < 0 || (rc = scepd_racert_load(alias)) < 0)
        return rc;
    return build_ca_cert_reply(alias);
}

static void generation_free(struct scepd_generation *generation)
{
    if (generation == NULL)
        return;
    for (size_t i = 0; i < generation->alias_count; i++) {
        OPENSSL_free(generation->aliases[i].ca_cert);
        sk_X509_free(generation->aliases[i].reply_chain);
        scepd_racert_free(generation->aliases[i].ra);
    }
    free(generation->aliases);
    scepd_rollover_free(generation);
    for (size_t i = 0; i < generation->ca_count; i++) {
        scep_ca_free(generation->cas[i].ca);
        free(generation->cas[i].name);
    }
    free(generation->cas);
    scep_config_free(generation->config);
    free(generation);
}

const struct scepd_generation *scepd_generation_acquire(struct scepd_server *server)
{
    pthread_mutex_lock(&server->generation_lock);
    struct scepd_generation *generation = server->generation;
    if (generation != NULL)
        atomic_fetch_add_explicit(&generation->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&server->generation_lock);
    return generation;
}

void scepd_generation_release(const struct scepd_generation *held)
{
    /* The generation is not const to its owner; the handle is, for its readers. */
    struct scepd_generation *generation = (struct scepd_generation *)(uintptr_t)held;
    if (generation != NULL &&
        atomic_fetch_sub_explicit(&generation->refs, 1, memory_order_acq_rel) == 1)
        generation_free(generation);
}

/* Makes `generation` current; the old one goes when its last holder lets it go. */
static void generation_swap(struct scepd_server *server, struct scepd_generation *generation)
{
    atomic_init(&generation->refs, 1);
    pthread_mutex_lock(&server->generation_lock);
    struct scepd_generation *old = server->generation;
    server->generation = generation;
    pthread_mutex_unlock(&server->generation_lock);
    scepd_generation_release(old);
}

static int load_generation(struct scepd_generation **out, struct scepd_server *server,
                           scep_config *config)
{
    int rc = SCEP_OK;
    struct scepd_generation *generation = calloc(1, sizeof(*generation));
    ENSURE_ALLOC(generation);
    generation->config = config;
    const struct scep_config_global *global = scep_config_global_values(config);
    GUARD(check_relay_settings(global));
    GUARD(load_cas(generation, server));

    /* An alias exists only where the file configures one; with none, the built-in one. */
    const char *named = global->default_alias;
    ENSURE(named == NULL || named[0] == '\0' || scep_config_alias(config, named) != NULL,
           SCEP_ECONFIG, "default_alias = %s names no alias of the configuration", named);
    if (scep_config_alias_count(config) == 0)
        GUARD(scep_config_alias_add(config, SCEP_CONFIG_BUILTIN_ALIAS));
    size_t count = scep_config_alias_count(config);
    generation->aliases = calloc(count, sizeof(*generation->aliases));
    ENSURE_ALLOC(generation->aliases);
    for (size_t i = 0; i < count; i++) {
        const char *name = scep_config_alias_name(config, i);
        GUARD(resolve_alias(&generation->aliases[i], generation, global, name,
                            scep_config_alias(config, name)));
        generation->alias_count++;
    }
    const char *default_name = scep_config_default_alias(config);
    generation->default_alias =
        default_name != NULL ? scepd_generation_alias(generation, default_name) : NULL;
    GUARD(scepd_rollover_load(generation, server));
    *out = generation;
    generation = NULL;

cleanup:
    if (generation != NULL) {
        generation->config = NULL; /* the caller still owns it on failure */
        generation_free(generation);
    }
    return rc;
}

const struct scepd_alias *scepd_generation_alias(const struct scepd_generation *generation,
                                                 const char *name)
{
    for (size_t i = 0; i < generation->alias_count; i++)
        if (strcmp(generation->aliases[i].name, name) == 0)
            return &generation->aliases[i];
    return NULL;
}

void scepd_file_stamp(struct scepd_file_stamp *out, const char *path)
{
    struct stat st;
    memset(out, 0, sizeof(*out));
    if (stat(path, &st) != 0)
        return;
    out->device = (unsigned long long)st.st_dev;
    out->inode = (unsigned long long)st.st_ino;
    out->size = (unsigned long long)st.st_size;
    out->mtime_sec = (long long)st.st_mtim.tv_sec;
    out->mtime_nsec = (long long)st.st_mtim.tv_nsec;
}

int scepd_file_stamp_equal(const struct scepd_file_stamp *a, const struct scepd_file_stamp *b)
{
    return a->device == b->device && a->inode == b->inode && a->size == b->size &&
           a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

static void apply_log_level(const scep_config *config)
{
    const struct scep_config_global *global = scep_config_global_values(config);
    scepd_log_set_level((enum scepd_log_level)global->log_level);
    scepd_log_set_output((enum scepd_log_format)global->log_format,
                         (enum scepd_log_target)global->log_target);
}

int scepd_server_init(struct scepd_server *server, const char *config_path)
{
    int rc = SCEP_OK;
    scep_config *config = NULL;
    struct scepd_generation *generation = NULL;

    memset(server, 0, sizeof(*server));
    scepd_jansson_init(); /* before any thread can hold a jansson object */
    pthread_mutex_init(&server->reload_lock, NULL);
    pthread_mutex_init(&server->generation_lock, NULL);
    ENSURE(pthread_key_create(&server->store_key, close_thread_store) == 0, SCEP_ENOMEM,
           "cannot create thread-local storage");
    server->config_path = strdup(config_path);
    ENSURE_ALLOC(server->config_path);
    server->guard = malloc(sizeof(*server->guard));
    ENSURE_ALLOC(server->guard);
    if (scepd_guard_init(server->guard) != 0) {
        free(server->guard);
        server->guard = NULL;
        ENSURE(0, SCEP_ENOMEM, "cannot create the guard lock");
    }
    GUARD(scepd_metrics_new(&server->metrics));
    /* Stamped before it is read: a change while it is read is seen by the next poll. */
    struct scepd_file_stamp stamp;
    scepd_file_stamp(&stamp, config_path);
    GUARD(scep_config_load(&config, config_path));
    apply_log_level(config);
    for (size_t i = 0; i < scep_config_warning_count(config); i++)
        scepd_log(SCEPD_LOG_WARN, "event=config_warning detail=\"%s\"",
                  scep_config_warning(config, i));
    server->database = strdup(scep_config_global_values(config)->database);
    ENSURE_ALLOC(server->database);
    /* Read once here, not by every worker thread that opens its connection. */
    GUARD(scep_config_store_options(&server->store_options, &server->database_password, config, 1));
    GUARD(load_generation(&generation, server, config));
    config = NULL;
    generation->config_stamp = stamp;
    generation_swap(server, generation);

cleanup:
    scep_config_free(config);
    return rc;
}

int scepd_server_reload(struct scepd_server *server, const char *reason)
{
    int rc = SCEP_OK;
    scep_config *config = NULL;
    struct scepd_generation *generation = NULL;

    pthread_mutex_lock(&server->reload_lock);
    struct scepd_file_stamp stamp;
    scepd_file_stamp(&stamp, server->config_path);
    GUARD(scep_config_load(&config, server->config_path));
    GUARD(load_generation(&generation, server, config));
    config = NULL;
    generation->config_stamp = stamp;
    apply_log_level(generation->config);
    scepd_log(SCEPD_LOG_INFO, "event=reload reason=%s revision=%lld cas=%zu aliases=%zu", reason,
              (long long)generation->revision, generation->ca_count, generation->alias_count);
    /* Requests that started under the old generation keep using it. */
    generation_swap(server, generation);

cleanup:
    pthread_mutex_unlock(&server->reload_lock);
    scep_config_free(config);
    return rc;
}

void scepd_server_free(struct scepd_server *server)
{
    scepd_crl_refresh_stop(&server->crl_refresh);
    scepd_watch_stop(server);
    scepd_generation_release(server->generation);
    server->generation = NULL;
    scep_store *store = pthread_getspecific(server->store_key);
    scep_store_close(store);
    pthread_setspecific(server->store_key, NULL);
    pthread_key_delete(server->store_key);
    pthread_mutex_destroy(&server->reload_lock);
    pthread_mutex_destroy(&server->generation_lock);
    if (server->guard != NULL)
        scepd_guard_destroy(server->guard);
    free(server->guard);
    scepd_metrics_free(server->metrics);
    free(server->database);
    if (server->database_password != NULL)
        OPENSSL_clear_free(server->database_password, strlen(server->database_password) + 1);
    free(server->config_path);
    memset(server, 0, sizeof(*server));
}
