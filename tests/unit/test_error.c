#include "test_support.h"

#include "util/error_internal.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

static void error_table_maps_names_texts_and_fail_info(void **state)
{
    (void)state;
    assert_string_equal(scep_error_name(SCEP_EBADSIG), "SCEP_EBADSIG");
    assert_string_equal(scep_error_name(12345), "SCEP_E?");
    assert_string_equal(scep_error_text(SCEP_ETOOBIG), "input exceeds the size limit");
    assert_int_equal(scep_error_fail_info(SCEP_EBADSIG), SCEP_FAIL_BAD_MESSAGE_CHECK);
    assert_int_equal(scep_error_fail_info(SCEP_EBADALG), SCEP_FAIL_BAD_ALG);
    assert_int_equal(scep_error_fail_info(SCEP_EATTR), SCEP_FAIL_BAD_REQUEST);
    assert_int_equal(scep_error_fail_info(SCEP_EBADTIME), SCEP_FAIL_BAD_TIME);
    assert_int_equal(scep_error_fail_info(SCEP_ENOTFOUND), SCEP_FAIL_BAD_CERT_ID);
    assert_int_equal(scep_error_fail_info(-9999), SCEP_FAIL_BAD_REQUEST);
    assert_string_equal(scep_fail_info_name(SCEP_FAIL_BAD_CERT_ID), "badCertId");
    assert_string_equal(scep_fail_info_name((scep_fail_info)77), "unknown");
}

static void last_error_keeps_message_and_openssl_reason(void **state)
{
    (void)state;
    scep_error_clear();
    assert_int_equal(scep_error_code(), SCEP_OK);
    assert_string_equal(scep_error_message(), "");

    assert_int_equal(scep_fail(SCEP_EINVAL, "bad value %d", 7), SCEP_EINVAL);
    assert_int_equal(scep_error_code(), SCEP_EINVAL);
    assert_string_equal(scep_error_message(), "bad value 7");

    /* Wrapping the previous message in context must not garble it. */
    assert_int_equal(scep_fail(SCEP_EIO, "CA demo: %s", scep_error_message()), SCEP_EIO);
    assert_string_equal(scep_error_message(), "CA demo: bad value 7");

    /* Provoke an OpenSSL error and check its reason is appended. */
    assert_null(EVP_get_digestbyname("no-such-digest"));
    EVP_MD *md = EVP_MD_fetch(NULL, "no-such-digest", NULL);
    assert_null(md);
    assert_int_equal(scep_fail_ossl(SCEP_EBADALG, "digest"), SCEP_EBADALG);
    assert_true(strncmp(scep_error_message(), "digest: ", 8) == 0);
    assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_table_maps_names_texts_and_fail_info),
        cmocka_unit_test(last_error_keeps_message_and_openssl_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
