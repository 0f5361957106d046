/*
 * scepd's log in JSON: every text line's key=value pairs come out as one JSON object
 * whose values are the original text, whatever the text log had to quote or escape
 * (quotes, backslashes, control characters, blanks, '=' inside a detail).
 */
#include "test_support.h"

#include "scepd/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Converts the message and parses the JSON back; the caller json_decref's it. */
static json_t *convert(const char *message)
{
    char *line = scepd_log_json("2024-01-02T03:04:05.678Z", "info", message);
    assert_non_null(line);
    assert_null(strchr(line, '\n'));
    json_error_t error;
    json_t *object = json_loads(line, 0, &error);
    if (object == NULL)
        fail_msg("not JSON: %s (%s)", line, error.text);
    assert_true(json_is_object(object));
    free(line);
    return object;
}

static void assert_field(const json_t *object, const char *key, const char *expect)
{
    const json_t *value = json_object_get(object, key);
    if (value == NULL)
        fail_msg("no key %s", key);
    assert_true(json_is_string(value));
    assert_string_equal(json_string_value(value), expect);
}

static void plain_pairs_keep_their_order_after_time_and_level(void **state)
{
    (void)state;
    char *line = scepd_log_json("T", "warn", "event=started version=0.1.0 cas=1 aliases=2");
    assert_non_null(line);
    assert_string_equal(line, "{\"time\":\"T\",\"level\":\"warn\",\"event\":\"started\","
                              "\"version\":\"0.1.0\",\"cas\":\"1\",\"aliases\":\"2\"}");
    free(line);
}

static void escaped_values_come_back_as_the_original_text(void **state)
{
    (void)state;
    const char *texts[] = {
        "a \"quoted\" word",
        "back\\slash and \\\" both",
        "line\nbreak\tTAB\x1b[31mESC\x7f",
        "id with blanks",
        "detail with key=value inside and x=\"y\"",
        "ends with a quote\"",
        "\xc3\xa9t\xc3\xa9 UTF-8",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char value[512], escaped[512], message[2048];
        scepd_log_value(value, sizeof(value), texts[i]);
        scepd_log_escape(escaped, sizeof(escaped), texts[i]);
        snprintf(message, sizeof(message),
                 "event=request transaction_id=%s outcome=issued detail=\"%s\" last=1", value,
                 escaped);
        json_t *object = convert(message);
        assert_field(object, "time", "2024-01-02T03:04:05.678Z");
        assert_field(object, "level", "info");
        assert_field(object, "event", "request");
        assert_field(object, "transaction_id", texts[i]);
        assert_field(object, "outcome", "issued");
        assert_field(object, "detail", texts[i]);
        assert_field(object, "last", "1");
        assert_null(json_object_get(object, "message"));
        json_decref(object);
    }
}

static void unescaped_quotes_and_stray_words_stay_valid(void **state)
{
    (void)state;
    /* Call sites that put an error text in detail="%s" without escaping it. */
    json_t *object = convert("event=reload_failed detail=\"unknown SCEP alias \"x\"\"");
    assert_field(object, "detail", "unknown SCEP alias \"x\"");
    json_decref(object);

    object = convert("event=x detail=\"a \"b c\" d\" user=u");
    assert_field(object, "detail", "a \"b c\" d");
    assert_field(object, "user", "u");
    json_decref(object);

    object = convert("words first event=x then=1 more words time=later");
    assert_field(object, "message", "words first more words");
    assert_field(object, "event", "x");
    assert_field(object, "time_2", "later");
    json_decref(object);

    object = convert("event=x detail=\"cut short \\");
    assert_field(object, "detail", "cut short \\");
    json_decref(object);

    object = convert("event=x empty= bytes=\xff\xfe");
    assert_field(object, "empty", "");
    assert_field(object, "bytes", "??");
    json_decref(object);

    object = convert("");
    assert_int_equal(json_object_size(object), 2);
    json_decref(object);
}

/* scepd_log itself in json mode: one JSON line on stderr. */
static void scepd_log_writes_one_json_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    scepd_log_set_output(SCEPD_LOG_JSON, SCEPD_LOG_STDERR);
    scepd_log(SCEPD_LOG_WARN, "event=test detail=\"%s\"", "a \\\"b\\\" = c");
    scepd_log_set_output(SCEPD_LOG_JSON, SCEPD_LOG_JOURNAL);
    scepd_log(SCEPD_LOG_ERROR, "event=journal");
    scepd_log_set_output(SCEPD_LOG_TEXT, SCEPD_LOG_STDERR);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char out[4096];
    ssize_t n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    assert_true(n > 0);
    out[n] = '\0';
    char *second = strchr(out, '\n');
    assert_non_null(second);
    *second++ = '\0';
    json_t *object = json_loads(out, 0, NULL);
    assert_non_null(object);
    assert_field(object, "level", "warn");
    assert_field(object, "event", "test");
    assert_field(object, "detail", "a \"b\" = c");
    json_decref(object);
    assert_int_equal(strncmp(second, "<3>{", 4), 0);
    object = json_loads(second + 3, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(object);
    assert_field(object, "level", "error");
    json_decref(object);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_pairs_keep_their_order_after_time_and_level),
        cmocka_unit_test(escaped_values_come_back_as_the_original_text),
        cmocka_unit_test(unescaped_quotes_and_stray_words_stay_valid),
        cmocka_unit_test(scepd_log_writes_one_json_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
