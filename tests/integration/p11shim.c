/*
 * A PKCS#11 module in front of a real one (P11SHIM_MODULE) that behaves as an unplugged
 * token while the file P11SHIM_DOWN exists: the moment it appears every session of the
 * real module is closed (the login is gone, as after a real removal), and until it is
 * removed token operations fail with CKR_DEVICE_REMOVED or CKR_TOKEN_NOT_PRESENT.
 * Lets scepd-hsm.sh take the token away from a running scepd and give it back.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static CK_FUNCTION_LIST *real;
static CK_FUNCTION_LIST shim;
static atomic_int was_down;

static int token_down(void)
{
    const char *flag = getenv("P11SHIM_DOWN");
    int down = flag != NULL && access(flag, F_OK) == 0;
    if (down && !atomic_exchange(&was_down, 1)) {
        CK_SLOT_ID slots[16];
        CK_ULONG count = 16;
        if (real->C_GetSlotList(CK_TRUE, slots, &count) == CKR_OK)
            for (CK_ULONG i = 0; i < count; i++)
                real->C_CloseAllSessions(slots[i]);
    } else if (!down) {
        atomic_store(&was_down, 0);
    }
    return down;
}

static CK_RV shim_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    return token_down() ? CKR_TOKEN_NOT_PRESENT : real->C_GetTokenInfo(slot, info);
}

static CK_RV shim_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                              CK_SESSION_HANDLE_PTR session)
{
    return token_down() ? CKR_TOKEN_NOT_PRESENT
                        : real->C_OpenSession(slot, flags, app, notify, session);
}

static CK_RV shim_GetSessionInfo(CK_SESSION_HANDLE session, CK_SESSION_INFO_PTR info)
{
    return token_down() ? CKR_DEVICE_REMOVED : real->C_GetSessionInfo(session, info);
}

static CK_RV shim_Login(CK_SESSION_HANDLE session, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin,
                        CK_ULONG len)
{
    return token_down() ? CKR_DEVICE_REMOVED : real->C_Login(session, type, pin, len);
}

static CK_RV shim_FindObjectsInit(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    return token_down() ? CKR_DEVICE_REMOVED : real->C_FindObjectsInit(session, tmpl, n);
}

static CK_RV shim_SignInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    return token_down() ? CKR_DEVICE_REMOVED : real->C_SignInit(session, mech, key);
}

static CK_RV shim_Sign(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                       CK_ULONG_PTR sig_len)
{
    return token_down() ? CKR_DEVICE_REMOVED : real->C_Sign(session, data, len, sig, sig_len);
}

static CK_RV shim_DecryptInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech,
                              CK_OBJECT_HANDLE key)
{
    return token_down() ? CKR_DEVICE_REMOVED : real->C_DecryptInit(session, mech, key);
}

static CK_RV shim_Decrypt(CK_SESSION_HANDLE session, CK_BYTE_PTR in, CK_ULONG in_len,
                          CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return token_down() ? CKR_DEVICE_REMOVED : real->C_Decrypt(session, in, in_len, out, out_len);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    if (real == NULL) {
        const char *path = getenv("P11SHIM_MODULE");
        void *lib = path != NULL ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
        void *sym = lib != NULL ? dlsym(lib, "C_GetFunctionList") : NULL;
        CK_C_GetFunctionList get = NULL;
        if (sym == NULL)
            return CKR_GENERAL_ERROR;
        memcpy(&get, &sym, sizeof(get));
        if (get(&real) != CKR_OK)
            return CKR_GENERAL_ERROR;
        shim = *real;
        shim.C_GetTokenInfo = shim_GetTokenInfo;
        shim.C_OpenSession = shim_OpenSession;
        shim.C_GetSessionInfo = shim_GetSessionInfo;
        shim.C_Login = shim_Login;
        shim.C_FindObjectsInit = shim_FindObjectsInit;
        shim.C_SignInit = shim_SignInit;
        shim.C_Sign = shim_Sign;
        shim.C_DecryptInit = shim_DecryptInit;
        shim.C_Decrypt = shim_Decrypt;
    }
    *list = &shim;
    return CKR_OK;
}
