/*
 * Key pair generation inside a PKCS#11 token, with the module's own function
 * list: libp11 0.4.12 only offers PKCS11_generate_key, deprecated and RSA-only,
 * and EC CA keys are generated too. Everything else goes through libp11 (p11.c).
 * When libp11 already has the module initialised, C_Initialize here says so and
 * the module stays initialised; dlopen hands back the same instance.
 */
#include "ca/p11_internal.h"
#include "util/error_internal.h"

#include <dlfcn.h>
#include <string.h>

#include <openssl/rand.h>

#include <p11-kit/pkcs11.h>

/* DER OIDs of the named curves (RFC 5480 §2.1.1.1), CKA_EC_PARAMS as namedCurve. */
static const CK_BYTE OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const CK_BYTE OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

static const char *ckr_text(CK_RV rv)
{
    switch (rv) {
    case CKR_PIN_INCORRECT:
        return "PIN incorrect";
    case CKR_PIN_LOCKED:
        return "PIN locked";
    case CKR_TOKEN_WRITE_PROTECTED:
        return "token is write-protected";
    case CKR_MECHANISM_INVALID:
        return "mechanism not supported by the token";
    case CKR_TEMPLATE_INCONSISTENT:
    case CKR_ATTRIBUTE_VALUE_INVALID:
        return "key template refused by the token";
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
        return "token not present";
    case CKR_DEVICE_MEMORY:
        return "token memory full";
    default:
        return "PKCS#11 error";
    }
}

/* Token fields are padded with blanks, not terminated (PKCS#11 v2.40 §3.2, CK_TOKEN_INFO). */
static int label_is(const CK_UTF8CHAR *label, size_t len, const char *want)
{
    while (len > 0 && label[len - 1] == ' ')
        len--;
    return strlen(want) == len && memcmp(label, want, len) == 0;
}

static int find_slot(CK_SLOT_ID *out, CK_FUNCTION_LIST *f, const struct scep_p11_uri *uri)
{
    int rc = SCEP_OK;
    CK_SLOT_ID slots[64];
    CK_ULONG count = sizeof(slots) / sizeof(slots[0]);

    CK_RV rv = f->C_GetSlotList(CK_TRUE, slots, &count);
    ENSURE(rv == CKR_OK, SCEP_EUNAVAILABLE, "cannot list PKCS#11 slots: %s (0x%lx)", ckr_text(rv),
           (unsigned long)rv);
    for (CK_ULONG i = 0; i < count; i++) {
        CK_TOKEN_INFO info;
        if (f->C_GetTokenInfo(slots[i], &info) != CKR_OK ||
            !label_is(info.label, sizeof(info.label), uri->token))
            continue;
        if (uri->serial != NULL &&
            !label_is(info.serialNumber, sizeof(info.serialNumber), uri->serial))
            continue;
        *out = slots[i];
        return SCEP_OK;
    }
    ENSURE(0, SCEP_EUNAVAILABLE, "PKCS#11 token %s is not present", uri->token);

cleanup:
    return rc;
}

/* A private key with the new key's label or id would make the URI ambiguous. */
static int check_absent(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE session,
                        const struct scep_p11_uri *uri, const CK_BYTE *id, CK_ULONG id_len)
{
    int rc = SCEP_OK;
    CK_OBJECT_CLASS class = CKO_PRIVATE_KEY;
    for (int pass = 0; pass < 2; pass++) {
        CK_ATTRIBUTE find[2] = {{CKA_CLASS, &class, sizeof(class)}, {0, NULL, 0}};
        if (pass == 0) {
            find[1] = (CK_ATTRIBUTE){CKA_LABEL, uri->object, strlen(uri->object)};
        } else {
            find[1] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
        }
        CK_OBJECT_HANDLE found[1];
        CK_ULONG count = 0;
        CK_RV rv = f->C_FindObjectsInit(session, find, 2);
        if (rv == CKR_OK) {
            rv = f->C_FindObjects(session, found, 1, &count);
            f->C_FindObjectsFinal(session);
        }
        ENSURE(rv == CKR_OK, SCEP_EUNAVAILABLE, "cannot search PKCS#11 token %s: %s", uri->token,
               ckr_text(rv));
        ENSURE(count == 0, SCEP_EEXISTS, "PKCS#11 token %s already holds a private key %s",
               uri->token, pass == 0 ? uri->object : "with that id");
    }

cleanup:
    return rc;
}

static int generate(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE session, const struct scep_p11_uri *uri,
                    scep_key_type type, unsigned rsa_bits, const char *curve)
{
    int rc = SCEP_OK;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = rsa_bits;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    CK_BYTE random_id[8];
    const CK_BYTE *id = uri->id;
    CK_ULONG id_len = uri->id_len;
    const CK_BYTE *params = NULL;
    CK_ULONG params_len = 0;

    if (id == NULL) {
        /* Tools pair keys and certificates by CKA_ID: give the key one. */
        ENSURE(RAND_bytes(random_id, sizeof(random_id)) == 1, SCEP_ECRYPTO, "no random id");
        id = random_id;
        id_len = sizeof(random_id);
    }
    GUARD(check_absent(f, session, uri, id, id_len));
    CK_MECHANISM mechanism = {type == SCEP_KEY_EC ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN,
                              NULL, 0};
    if (type == SCEP_KEY_EC) {
        const int p384 = curve != NULL && strcmp(curve, "P-384") == 0;
        ENSURE(curve == NULL || p384 || strcmp(curve, "P-256") == 0, SCEP_EINVAL,
               "EC curve \"%s\": use P-256 or P-384", curve);
        params = p384 ? OID_P384 : OID_P256;
        params_len = p384 ? sizeof(OID_P384) : sizeof(OID_P256);
    } else {
        ENSURE(rsa_bits == 2048 || rsa_bits == 3072 || rsa_bits == 4096, SCEP_EINVAL,
               "RSA key size %u: use 2048, 3072 or 4096", rsa_bits);
    }
    CK_ATTRIBUTE pub[6] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_LABEL, uri->object, strlen(uri->object)},
        {CKA_ID, (void *)id, id_len},
    };
    CK_ULONG pub_count = 4;
    if (type == SCEP_KEY_EC) {
        pub[pub_count++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)params, params_len};
    } else {
        pub[pub_count++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
        pub[pub_count++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)};
    }
    /* Sensitive and never extractable: the key cannot leave the token, not even wrapped. */
    CK_ATTRIBUTE priv[8] = {
        {CKA_TOKEN, &yes, sizeof(yes)},     {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},      {CKA_LABEL, uri->object, strlen(uri->object)},
        {CKA_ID, (void *)id, id_len},
    };
    CK_ULONG priv_count = 7;
    if (type != SCEP_KEY_EC)
        priv[priv_count++] = (CK_ATTRIBUTE){CKA_DECRYPT, &yes, sizeof(yes)};
    CK_OBJECT_HANDLE pub_handle = 0, priv_handle = 0;
    CK_RV rv = f->C_GenerateKeyPair(session, &mechanism, pub, pub_count, priv, priv_count,
                                    &pub_handle, &priv_handle);
    ENSURE(rv == CKR_OK, SCEP_ECRYPTO, "PKCS#11 token %s: cannot generate the key: %s (0x%lx)",
           uri->token, ckr_text(rv), (unsigned long)rv);

cleanup:
    return rc;
}

int scep_p11_keygen(const struct scep_p11_uri *uri, const char *module, const char *pin,
                    scep_key_type type, unsigned rsa_bits, const char *curve)
{
    int rc = SCEP_OK;
    void *lib = NULL;
    CK_FUNCTION_LIST *f = NULL;
    int initialised = 0;
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    CK_SLOT_ID slot = 0;

    lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    ENSURE(lib != NULL, SCEP_ECONFIG, "cannot load PKCS#11 module %s", module);
    CK_C_GetFunctionList get_list = NULL;
    /* POSIX dlsym returns functions as void *; copying the bytes avoids the cast warning. */
    void *sym = dlsym(lib, "C_GetFunctionList");
    ENSURE(sym != NULL, SCEP_ECONFIG, "%s is not a PKCS#11 module", module);
    memcpy(&get_list, &sym, sizeof(get_list));
    ENSURE(get_list(&f) == CKR_OK && f != NULL, SCEP_ECONFIG, "%s gave no function list", module);
    CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
    CK_RV rv = f->C_Initialize(&args);
    ENSURE(rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED, SCEP_ECONFIG,
           "cannot initialise PKCS#11 module %s: %s", module, ckr_text(rv));
    initialised = rv == CKR_OK;
    GUARD(find_slot(&slot, f, uri));
    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session);
    ENSURE(rv == CKR_OK, SCEP_EUNAVAILABLE, "PKCS#11 token %s: cannot open a session: %s",
           uri->token, ckr_text(rv));
    rv = f->C_Login(session, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
    ENSURE(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN, SCEP_EPERM,
           "PKCS#11 token %s: login failed: %s", uri->token, ckr_text(rv));
    GUARD(generate(f, session, uri, type, rsa_bits, curve));

cleanup:
    if (session != CK_INVALID_HANDLE) {
        /* The login belongs to the whole process: keep libp11's when it had the module open. */
        if (initialised)
            f->C_Logout(session);
        f->C_CloseSession(session);
    }
    if (initialised)
        f->C_Finalize(NULL);
    if (lib != NULL)
        dlclose(lib);
    return rc;
}
