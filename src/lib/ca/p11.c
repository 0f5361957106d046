/*
 * Private keys in a PKCS#11 token, through libp11's PKCS11_* API: libp11 hands
 * out an EVP_PKEY whose private operations go to the token, so OpenSSL's
 * X509_sign, X509_CRL_sign, CMS_sign and CMS_decrypt work on it unchanged.
 *
 * Process-wide state, against the library's rule of no globals: a PKCS#11
 * module may be initialised only once per process (PKCS#11 v2.40 §5.4,
 * C_Initialize), so its context and the keys found through it are shared by
 * every caller. Everything here is guarded by `p11.lock`, except the per-key
 * check in scep_key_current(), which has its own lock and never blocks a caller.
 *
 * Threads: libp11 (0.4.11 on) keeps a pool of sessions per slot behind a mutex
 * and takes one for each operation, so no PKCS#11 session is used by two
 * threads at once while any number of threads sign with one EVP_PKEY.
 */
#include "ca/ca_internal.h"
#include "ca/p11_internal.h"
#include "util/error_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/types.h>

/*
 * libp11.h declares (never used here) functions returning these legacy method
 * types, which OPENSSL_NO_DEPRECATED hides; opaque names are all it needs.
 */
typedef struct rsa_meth_st RSA_METHOD;
typedef struct ec_key_method_st EC_KEY_METHOD;
#include <libp11.h>

/* A healthy token is checked this often by one request; a failed one retried with backoff. */
#define P11_CHECK_MS       2000
#define P11_RETRY_FIRST_MS 1000
#define P11_RETRY_MAX_MS   30000
/*
 * Keys replaced by a reconnect stay allocated while another thread may still hold one:
 * a request holds its key at most request_timeout (an hour at most), so a key retired
 * longer ago than that is freed to make room. A token flapping faster than
 * P11_RETIRED_MAX reconnects an hour waits for the oldest to age out.
 */
#define P11_RETIRED_MAX      64
#define P11_RETIRED_GRACE_MS (3600LL * 1000LL + 60000LL)

struct token_key {
    char *ref;
    struct scep_p11_uri uri;
    EVP_PKEY *first; /* what scep_key_open returned; carries the ex_data link here */
    _Atomic(EVP_PKEY *) current;
    EVP_PKEY *retired[P11_RETIRED_MAX]; /* oldest first */
    long long retired_at_ms[P11_RETIRED_MAX];
    size_t retired_count;
    pthread_mutex_t check_lock;
    _Atomic long long next_check_ms;
    _Atomic unsigned generation; /* of the slot list `current` was found in */
    _Atomic int failing;         /* the last reconnect failed: wait for next_check_ms */
    long long retry_ms;
    struct token_key *next;
};

struct slot_list {
    PKCS11_SLOT *slots;
    unsigned count;
    struct slot_list *next;
};

static struct {
    pthread_mutex_t lock;
    char *module;   /* configured */
    char *pin_file; /* configured */
    PKCS11_CTX *ctx;
    char *ctx_module;             /* what ctx has loaded */
    struct slot_list *slot_lists; /* newest first: the one keys are looked up in */
    /*
     * Incremented with each new slot list. Opening a session on a new list's slot
     * closes every session of that slot (libp11 flushes the pool on a mode change) and
     * with them the login, so keys found in an older list must be found again.
     */
    _Atomic unsigned generation;
    struct token_key *keys;
    _Atomic int ex_index;
} p11 = {.lock = PTHREAD_MUTEX_INITIALIZER, .ex_index = -1};

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The last libp11 / PKCS#11 reason on the error queue (e.g. "PIN incorrect"), never the PIN. */
static const char *token_reason(void)
{
    unsigned long err = ERR_peek_last_error();
    const char *reason = err != 0 ? ERR_reason_error_string(err) : NULL;
    return reason != NULL ? reason : "no detail from the module";
}

int scep_pkcs11_configure(const char *module_path, const char *pin_file)
{
    int rc = SCEP_OK;
    char *module = NULL, *pin = NULL;

    if (module_path != NULL) {
        module = strdup(module_path);
        ENSURE_ALLOC(module);
    }
    if (pin_file != NULL) {
        pin = strdup(pin_file);
        ENSURE_ALLOC(pin);
    }
    pthread_mutex_lock(&p11.lock);
    free(p11.module);
    free(p11.pin_file);
    p11.module = module;
    p11.pin_file = pin;
    module = pin = NULL;
    pthread_mutex_unlock(&p11.lock);

cleanup:
    free(module);
    free(pin);
    return rc;
}

int scep_key_ref_is_pkcs11(const char *ref)
{
    return ref != NULL && strncmp(ref, SCEP_P11_URI_PREFIX, strlen(SCEP_P11_URI_PREFIX)) == 0;
}

/* Caller holds p11.lock. */
int scep_p11_resolve(const char **out_module, const char **out_pin_file,
                     const struct scep_p11_uri *uri)
{
    *out_module = uri->module_path != NULL ? uri->module_path : p11.module;
    *out_pin_file = uri->pin_file != NULL ? uri->pin_file : p11.pin_file;
    if (*out_module == NULL)
        return scep_fail(SCEP_ECONFIG, "no PKCS#11 module for a pkcs11: key: set pkcs11_module "
                                       "(e.g. /usr/lib/softhsm/libsofthsm2.so)");
    return SCEP_OK;
}

int scep_p11_read_pin(char **out, size_t *out_len, const char *pin_file)
{
    int rc = SCEP_OK;
    int fd = -1;
    unsigned char *data = NULL;
    size_t len = 0, line = 0;
    char *pin = NULL;

    *out = NULL;
    *out_len = 0;
    /* As a key file: 0600 (or stricter) and ours, checked on the file that is read. */
    GUARD(scep_pki_open_checked(&fd, pin_file, "PIN file"));
    GUARD(scep_pki_read_file(&data, &len, fd, pin_file, SCEP_P11_PIN_MAX + 2));
    while (line < len && data[line] != '\n' && data[line] != '\r')
        line++;
    ENSURE(line > 0 && line <= SCEP_P11_PIN_MAX && memchr(data, '\0', line) == NULL, SCEP_EINVAL,
           "PIN file %s: the first line must hold the PIN (1 to %d bytes)", pin_file,
           SCEP_P11_PIN_MAX);
    pin = OPENSSL_malloc(line + 1);
    ENSURE_ALLOC(pin);
    memcpy(pin, data, line);
    pin[line] = '\0';
    *out = pin;
    *out_len = line + 1;

cleanup:
    if (fd >= 0)
        close(fd);
    OPENSSL_clear_free(data, len);
    return rc;
}

/* Caller holds p11.lock. */
static int ensure_ctx(const char *module)
{
    int rc = SCEP_OK;
    PKCS11_CTX *ctx = NULL;

    if (p11.ctx != NULL) {
        ENSURE(strcmp(p11.ctx_module, module) == 0, SCEP_ECONFIG,
               "PKCS#11 module %s: %s is already in use; one module per process", module,
               p11.ctx_module);
        return SCEP_OK;
    }
    ctx = PKCS11_CTX_new();
    ENSURE_ALLOC(ctx);
    ENSURE(access(module, R_OK) == 0, SCEP_ECONFIG, "PKCS#11 module %s cannot be read", module);
    ENSURE(PKCS11_CTX_load(ctx, module) == 0, SCEP_ECONFIG, "cannot load PKCS#11 module %s: %s",
           module, token_reason());
    p11.ctx_module = strdup(module);
    if (p11.ctx_module == NULL) {
        PKCS11_CTX_unload(ctx);
        ENSURE_ALLOC(NULL);
    }
    p11.ctx = ctx;
    ctx = NULL;

cleanup:
    if (ctx != NULL)
        PKCS11_CTX_free(ctx);
    return rc;
}

static int token_matches(const PKCS11_SLOT *slot, const struct scep_p11_uri *uri)
{
    const PKCS11_TOKEN *token = slot->token;
    if (token == NULL || !token->initialized)
        return 0;
    if (uri->token != NULL && (token->label == NULL || strcmp(token->label, uri->token) != 0))
        return 0;
    if (uri->serial != NULL &&
        (token->serialnr == NULL || strcmp(token->serialnr, uri->serial) != 0))
        return 0;
    return 1;
}

static int key_matches(const PKCS11_KEY *key, const struct scep_p11_uri *uri)
{
    if (!key->isPrivate)
        return 0;
    if (uri->object != NULL && (key->label == NULL || strcmp(key->label, uri->object) != 0))
        return 0;
    if (uri->id != NULL &&
        (key->id_len != uri->id_len || CRYPTO_memcmp(key->id, uri->id, uri->id_len) != 0))
        return 0;
    return 1;
}

static const char *token_name(const struct scep_p11_uri *uri)
{
    return uri->token != NULL ? uri->token : uri->serial != NULL ? uri->serial : "(any)";
}

/* A new slot list, kept (keys point into it) and made the current one. Caller holds p11.lock. */
static int refresh_slots(const char *module)
{
    int rc = SCEP_OK;
    struct slot_list *list = calloc(1, sizeof(*list));

    ENSURE_ALLOC(list);
    ENSURE(PKCS11_enumerate_slots(p11.ctx, &list->slots, &list->count) == 0, SCEP_EUNAVAILABLE,
           "PKCS#11 module %s: cannot list its slots: %s", module, token_reason());
    list->next = p11.slot_lists;
    p11.slot_lists = list;
    list = NULL;
    atomic_fetch_add(&p11.generation, 1);

cleanup:
    free(list);
    return rc;
}

static PKCS11_SLOT *find_slot(const struct scep_p11_uri *uri)
{
    for (unsigned i = 0; p11.slot_lists != NULL && i < p11.slot_lists->count; i++)
        if (token_matches(&p11.slot_lists->slots[i], uri))
            return &p11.slot_lists->slots[i];
    return NULL;
}

static int login(PKCS11_SLOT *slot, const struct scep_p11_uri *uri, const char *pin_file)
{
    int rc = SCEP_OK;
    int logged_in = 0;
    char *pin = NULL;
    size_t pin_len = 0;

    if (PKCS11_is_logged_in(slot, 0, &logged_in) == 0 && logged_in)
        return SCEP_OK;
    ENSURE(PKCS11_open_session(slot, 0) == 0, SCEP_EUNAVAILABLE,
           "PKCS#11 token %s: cannot open a session: %s", token_name(uri), token_reason());
    if (slot->token->loginRequired) {
        ENSURE(pin_file != NULL, SCEP_ECONFIG,
               "PKCS#11 token %s needs a PIN: set pkcs11_pin_file or pin-source=file:/path in "
               "the key's URI",
               token_name(uri));
        GUARD(scep_p11_read_pin(&pin, &pin_len, pin_file));
        ENSURE(PKCS11_login(slot, 0, pin) == 0, SCEP_EPERM,
               "PKCS#11 token %s: login with the PIN from %s failed: %s", token_name(uri), pin_file,
               token_reason());
    }

cleanup:
    OPENSSL_clear_free(pin, pin_len);
    return rc;
}

static int key_in_slot(EVP_PKEY **out, PKCS11_SLOT *slot, const struct scep_p11_uri *uri)
{
    int rc = SCEP_OK;
    PKCS11_KEY *keys = NULL;
    unsigned key_count = 0;

    ENSURE(PKCS11_enumerate_keys(slot->token, &keys, &key_count) == 0, SCEP_EUNAVAILABLE,
           "PKCS#11 token %s: cannot list its keys: %s", token_name(uri), token_reason());
    for (unsigned i = 0; i < key_count; i++) {
        if (!key_matches(&keys[i], uri))
            continue;
        *out = PKCS11_get_private_key(&keys[i]);
        ENSURE_OSSL(*out != NULL, SCEP_ECRYPTO, "PKCS#11 token %s: cannot use key %s",
                    token_name(uri), keys[i].label != NULL ? keys[i].label : "(no label)");
        return SCEP_OK;
    }
    ENSURE(0, SCEP_ENOTFOUND, "PKCS#11 token %s holds no private key %s%s", token_name(uri),
           uri->object != NULL ? "labelled " : "with the given id",
           uri->object != NULL ? uri->object : "");

cleanup:
    return rc;
}

/*
 * Finds the token, logs in (once per slot) and returns the key. The current slot
 * list serves while it can; `refresh` (the token failed), a token or key it does
 * not know (libp11 caches a slot's key list) make a new one. Caller holds p11.lock.
 */
static int find_key(EVP_PKEY **out, unsigned *out_generation, const struct scep_p11_uri *uri,
                    const char *module, const char *pin_file, int refresh)
{
    int rc = SCEP_OK;
    PKCS11_SLOT *slot = NULL;

    *out = NULL;
    GUARD(ensure_ctx(module));
    for (int attempt = 0; attempt < 2; attempt++) {
        if (refresh || attempt > 0 || p11.slot_lists == NULL)
            GUARD(refresh_slots(module));
        slot = find_slot(uri);
        if (slot == NULL) {
            rc = scep_fail(SCEP_EUNAVAILABLE, "PKCS#11 token %s is not present (module %s)",
                           token_name(uri), module);
            continue;
        }
        GUARD(login(slot, uri, pin_file));
        rc = key_in_slot(out, slot, uri);
        if (rc != SCEP_ENOTFOUND && rc != SCEP_EUNAVAILABLE)
            break;
        if (refresh)
            break; /* this list is new already */
    }
    *out_generation = atomic_load(&p11.generation);

cleanup:
    return rc;
}

static int ensure_ex_index(void)
{
    if (atomic_load(&p11.ex_index) < 0) {
        int index = EVP_PKEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (index < 0)
            return scep_fail(SCEP_ENOMEM, "cannot link a token key to its reference");
        atomic_store(&p11.ex_index, index);
    }
    return SCEP_OK;
}

static struct token_key *token_key_of(const EVP_PKEY *key)
{
    const int index = atomic_load(&p11.ex_index);
    if (key == NULL || index < 0)
        return NULL;
    return EVP_PKEY_get_ex_data(key, index);
}

static void token_key_free(struct token_key *tk)
{
    if (tk == NULL)
        return;
    free(tk->ref);
    scep_p11_uri_clear(&tk->uri);
    EVP_PKEY *current = atomic_load(&tk->current);
    if (current != tk->first)
        EVP_PKEY_free(current);
    EVP_PKEY_free(tk->first);
    for (size_t i = 0; i < tk->retired_count; i++)
        EVP_PKEY_free(tk->retired[i]);
    pthread_mutex_destroy(&tk->check_lock);
    free(tk);
}

static int open_token_key(EVP_PKEY **out, const char *ref)
{
    int rc = SCEP_OK;
    struct token_key *tk = NULL;
    const char *module = NULL, *pin_file = NULL;

    pthread_mutex_lock(&p11.lock);
    /* One login and one key object per reference, however often it is loaded (reloads). */
    for (struct token_key *k = p11.keys; k != NULL; k = k->next) {
        if (strcmp(k->ref, ref) == 0) {
            ENSURE_OSSL(EVP_PKEY_up_ref(k->first) == 1, SCEP_ECRYPTO, "cannot share a key");
            *out = k->first;
            goto cleanup;
        }
    }
    GUARD(ensure_ex_index());
    tk = calloc(1, sizeof(*tk));
    ENSURE_ALLOC(tk);
    pthread_mutex_init(&tk->check_lock, NULL);
    tk->ref = strdup(ref);
    ENSURE_ALLOC(tk->ref);
    GUARD(scep_p11_uri_parse(&tk->uri, ref));
    GUARD(scep_p11_resolve(&module, &pin_file, &tk->uri));
    unsigned generation = 0;
    GUARD(find_key(&tk->first, &generation, &tk->uri, module, pin_file, 0));
    atomic_store(&tk->generation, generation);
    ENSURE_OSSL(EVP_PKEY_set_ex_data(tk->first, atomic_load(&p11.ex_index), tk) == 1, SCEP_ENOMEM,
                "cannot link a token key to its reference");
    atomic_store(&tk->current, tk->first);
    atomic_store(&tk->next_check_ms, monotonic_ms() + P11_CHECK_MS);
    tk->retry_ms = P11_RETRY_FIRST_MS;
    ENSURE_OSSL(EVP_PKEY_up_ref(tk->first) == 1, SCEP_ECRYPTO, "cannot share a key");
    *out = tk->first;
    tk->next = p11.keys;
    p11.keys = tk;
    tk = NULL;

cleanup:
    pthread_mutex_unlock(&p11.lock);
    token_key_free(tk);
    return rc;
}

int scep_key_open(EVP_PKEY **out, const char *ref, unsigned flags)
{
    int rc = SCEP_OK;

    ENSURE(out != NULL && ref != NULL && ref[0] != '\0', SCEP_EINVAL, "no key reference given");
    *out = NULL;
    if (scep_key_ref_is_pkcs11(ref))
        return open_token_key(out, ref);
    const char *path = strncmp(ref, "file:", 5) == 0 ? ref + 5 : ref;
    if (flags & SCEP_KEY_OPEN_CHECK_FILE)
        GUARD(scep_key_file_check(path));
    GUARD(scep_key_load(out, path, NULL));

cleanup:
    return rc;
}

int scep_key_is_token(const EVP_PKEY *key)
{
    return token_key_of(key) != NULL;
}

/* A signature the token must make: proves the session, the login and the key object. */
static int token_works(EVP_PKEY *key)
{
    static const unsigned char probe[] = "scep token check";
    unsigned char sig[1024];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(md, sig, &sig_len, probe, sizeof(probe) - 1) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

/*
 * Finds the key again: in a new slot list when the token failed (`refresh`), else in
 * the list another key's reconnect made. Caller holds tk->check_lock.
 */
static void reconnect(struct token_key *tk, long long now, int refresh)
{
    EVP_PKEY *fresh = NULL;
    const char *module = NULL, *pin_file = NULL;
    unsigned generation = 0;

    pthread_mutex_lock(&p11.lock);
    /* Someone else's new list may already hold the token again. */
    if (refresh && atomic_load(&tk->generation) != atomic_load(&p11.generation))
        refresh = 0;
    if (tk->retired_count == P11_RETIRED_MAX && now - tk->retired_at_ms[0] > P11_RETIRED_GRACE_MS) {
        EVP_PKEY_free(tk->retired[0]);
        memmove(tk->retired, tk->retired + 1, (P11_RETIRED_MAX - 1) * sizeof(tk->retired[0]));
        memmove(tk->retired_at_ms, tk->retired_at_ms + 1,
                (P11_RETIRED_MAX - 1) * sizeof(tk->retired_at_ms[0]));
        tk->retired_count--;
    }
    int ok = tk->retired_count < P11_RETIRED_MAX &&
             scep_p11_resolve(&module, &pin_file, &tk->uri) == SCEP_OK &&
             find_key(&fresh, &generation, &tk->uri, module, pin_file, refresh) == SCEP_OK &&
             EVP_PKEY_set_ex_data(fresh, atomic_load(&p11.ex_index), tk) == 1 && token_works(fresh);
    pthread_mutex_unlock(&p11.lock);
    ERR_clear_error();
    atomic_store(&tk->failing, !ok);
    if (!ok) {
        EVP_PKEY_free(fresh);
        atomic_store(&tk->next_check_ms, now + tk->retry_ms);
        tk->retry_ms = tk->retry_ms * 2 > P11_RETRY_MAX_MS ? P11_RETRY_MAX_MS : tk->retry_ms * 2;
        return;
    }
    atomic_store(&tk->generation, generation);
    EVP_PKEY *old = atomic_exchange(&tk->current, fresh);
    if (old != tk->first) {
        tk->retired_at_ms[tk->retired_count] = now;
        tk->retired[tk->retired_count++] = old;
    }
    tk->retry_ms = P11_RETRY_FIRST_MS;
    atomic_store(&tk->next_check_ms, now + P11_CHECK_MS);
}

EVP_PKEY *scep_key_current(EVP_PKEY *key)
{
    struct token_key *tk = token_key_of(key);
    if (tk == NULL)
        return key;
    const long long now = monotonic_ms();
    /* A new slot list logged the older ones' sessions out: their key objects are dead. */
    const int stale = atomic_load(&tk->generation) != atomic_load(&p11.generation);
    if (((!stale || atomic_load(&tk->failing)) && now < atomic_load(&tk->next_check_ms)) ||
        pthread_mutex_trylock(&tk->check_lock) != 0)
        return atomic_load(&tk->current);
    if (atomic_load(&tk->generation) != atomic_load(&p11.generation))
        reconnect(tk, now, 0);
    else if (now >= atomic_load(&tk->next_check_ms) && !token_works(atomic_load(&tk->current)))
        reconnect(tk, now, 1);
    else if (now >= atomic_load(&tk->next_check_ms))
        atomic_store(&tk->next_check_ms, now + P11_CHECK_MS);
    pthread_mutex_unlock(&tk->check_lock);
    return atomic_load(&tk->current);
}

int scep_pkcs11_generate(EVP_PKEY **out, const char *ref, scep_key_type type, unsigned rsa_bits,
                         const char *curve)
{
    int rc = SCEP_OK;
    struct scep_p11_uri uri = {0};
    const char *module = NULL, *pin_file = NULL;
    char *pin = NULL;
    size_t pin_len = 0;

    ENSURE(out != NULL && ref != NULL, SCEP_EINVAL, "scep_pkcs11_generate: NULL argument");
    *out = NULL;
    GUARD(scep_p11_uri_parse(&uri, ref));
    ENSURE(uri.token != NULL && uri.object != NULL, SCEP_EINVAL,
           "pkcs11 URI for a new key: name the token (token=LABEL) and the key (object=LABEL)");
    pthread_mutex_lock(&p11.lock);
    rc = scep_p11_resolve(&module, &pin_file, &uri);
    if (rc == SCEP_OK && p11.ctx != NULL && strcmp(p11.ctx_module, module) != 0)
        rc = scep_fail(SCEP_ECONFIG, "PKCS#11 module %s: %s is already in use", module,
                       p11.ctx_module);
    if (rc == SCEP_OK && pin_file == NULL)
        rc = scep_fail(SCEP_ECONFIG,
                       "generating a key in PKCS#11 token %s needs its PIN: set "
                       "pkcs11_pin_file or pin-source=file:/path in the URI",
                       uri.token);
    if (rc == SCEP_OK)
        rc = scep_p11_read_pin(&pin, &pin_len, pin_file);
    if (rc == SCEP_OK)
        rc = scep_p11_keygen(&uri, module, pin, type, rsa_bits, curve);
    pthread_mutex_unlock(&p11.lock);
    GUARD(rc);
    GUARD(scep_key_open(out, ref, 0));

cleanup:
    OPENSSL_clear_free(pin, pin_len);
    scep_p11_uri_clear(&uri);
    return rc;
}
