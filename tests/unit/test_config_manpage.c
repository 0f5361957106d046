/*
 * man/scepd.conf.5 carries the settings reference generated from the settings table
 * (scep_config_manpage) between two comment markers, as docs/configuration.md carries
 * scep_config_markdown's. SCEP_UPDATE_DOCS=1 rewrites it; otherwise any difference fails.
 */
#include "test_support.h"

#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAN_PAGE  "../man/scepd.conf.5"
#define MAN_BEGIN ".\\\" BEGIN GENERATED SETTINGS: scep_config_manpage()\n"
#define MAN_END   ".\\\" END GENERATED SETTINGS\n"

static void generated_troff_has_every_kind_of_row(void **state)
{
    (void)state;
    char *man = NULL;
    assert_int_equal(scep_config_manpage(&man), 0);
    assert_non_null(strstr(man, ".TP\n.B threads\ninteger, 0 to 1024; default \\fB0\\fR.\n"));
    assert_non_null(strstr(man, ".TP\n.B pid_file\nstring; unset by default.\n"));
    assert_non_null(strstr(man, ".B ALIAS.ra.authPwd\n"));
    assert_non_null(strstr(man, "(secret: masked in \\fBalias show\\fR)"));
    assert_non_null(strstr(man, ".B ALIAS.ra.entityProfile\nsame as "
                                "\\fBALIAS.ra.endEntityProfile\\fR\n"));
    /* Markdown code is bold; nothing of Markdown or raw UTF-8 is left. */
    assert_null(strchr(man, '`'));
    for (const unsigned char *p = (const unsigned char *)man; *p != '\0'; p++)
        assert_true(*p < 0x80);
    /* No line starts with a control character troff would take for a request. */
    for (const char *line = man; line != NULL && *line != '\0';) {
        if (line[0] == '\'')
            fail_msg("a line starts with a quote: %.40s", line);
        if (line[0] == '.')
            assert_true(strncmp(line, ".TP\n", 4) == 0 || strncmp(line, ".B ", 3) == 0 ||
                        strncmp(line, ".br\n", 4) == 0 || strncmp(line, ".SS ", 4) == 0);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    free(man);
}

static void man_page_matches_the_table(void **state)
{
    (void)state;
    char *man = NULL;
    assert_int_equal(scep_config_manpage(&man), 0);
    size_t len = 0;
    char *page = (char *)test_read_file(MAN_PAGE, &len);
    assert_non_null(page);
    page[len] = '\0';
    char *begin = strstr(page, MAN_BEGIN);
    char *end = begin ? strstr(begin, MAN_END) : NULL;
    if (begin == NULL || end == NULL)
        fail_msg("man/scepd.conf.5 lacks the generated-settings markers");
    char *body = begin + strlen(MAN_BEGIN);
    const char *update = getenv("SCEP_UPDATE_DOCS");
    if (update != NULL && strcmp(update, "1") == 0) {
        FILE *f = fopen(test_path(MAN_PAGE), "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(page, 1, (size_t)(body - page), f), (size_t)(body - page));
        assert_int_equal(fputs(man, f) >= 0, 1);
        assert_int_equal(fputs(end, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
    } else {
        *end = '\0';
        if (strcmp(body, man) != 0)
            fail_msg("man/scepd.conf.5 is out of date with the settings table; run "
                     "SCEP_UPDATE_DOCS=1 build/tests/test_config_manpage and commit the result");
    }
    free(page);
    free(man);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_troff_has_every_kind_of_row),
        cmocka_unit_test(man_page_matches_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
