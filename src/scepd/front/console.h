/*
 * The admin web console (docs/operations.md "Web console"): one page, its script, its
 * style sheet and its icon, compiled in from src/scepd/front/console/ at build time. They
 * hold no data and no secret, so they are served without credentials; everything they
 * show comes from the admin API, which asks for them.
 */
#ifndef SCEPD_CONSOLE_H
#define SCEPD_CONSOLE_H

#include "scepd/http/http.h"

#include <stddef.h>

#define SCEPD_CONSOLE_PATH "/admin/"

/* The files, compiled in (not NUL-terminated). */
extern const unsigned char scepd_console_html[];
extern const size_t scepd_console_html_len;
extern const unsigned char scepd_console_js[];
extern const size_t scepd_console_js_len;
extern const unsigned char scepd_console_css[];
extern const size_t scepd_console_css_len;
extern const unsigned char scepd_console_icon[];
extern const size_t scepd_console_icon_len;

/*
 * Answers a GET for one of the console's files and returns 1; 0 (nothing answered) for
 * any other request.
 */
int scepd_console_reply(const struct scepd_http_request *request,
                        struct scepd_http_response *response);

#endif
