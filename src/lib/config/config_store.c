/*
 * Opening the store a configuration names: `database` and, for PostgreSQL,
 * `database_password_file`. scepd's workers and scepctl open it the same way, so the
 * password file's checks live in one place.
 */
#include "config/config.h"
#include "ca/ca_internal.h"
#include "scep/ca.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

int scep_config_store_options(scep_store_open_options *out, char **out_password,
                              const scep_config *config, int must_exist)
{
    int rc = SCEP_OK;
    char *password = NULL;
    size_t password_len = 0;
    int fd = -1;
    unsigned char *data = NULL;
    size_t data_len = 0;
    const char *path = scep_config_global_values(config)->database_password_file;

    memset(out, 0, sizeof(*out));
    *out_password = NULL;
    if (path != NULL) {
        /* As a key file: 0600 or stricter and ours, checked on the file that is read (a
         * password others can read is no longer the role's secret). */
        GUARD(scep_pki_open_checked(&fd, path, "database_password_file"));
        GUARD(scep_pki_read_file(&data, &data_len, fd, path, SCEP_PASSPHRASE_MAX + 2));
        /* Refuses an empty first line: no password is spelt by leaving the setting out. */
        GUARD(scep_pki_decode_passphrase(&password, &password_len, data, data_len, path));
    }
    out->password = password;
    out->must_exist = must_exist;
    *out_password = password;
    password = NULL;

cleanup:
    if (fd >= 0)
        close(fd);
    OPENSSL_clear_free(data, data_len);
    if (password != NULL)
        OPENSSL_clear_free(password, password_len);
    return rc;
}

int scep_config_store_open(scep_store **out, const scep_config *config, int must_exist)
{
    scep_store_open_options options;
    char *password = NULL;
    int rc = scep_config_store_options(&options, &password, config, must_exist);
    if (rc == SCEP_OK)
        rc = scep_store_open_with(out, scep_config_global_values(config)->database, &options);
    if (password != NULL)
        OPENSSL_clear_free(password, strlen(password) + 1);
    return rc;
}
