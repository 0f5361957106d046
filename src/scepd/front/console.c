#include "scepd/front/console.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *path;
    const char *content_type;
    const unsigned char *data;
    const size_t *len;
} console_files[] = {
    /* Without the slash too: the page names its files by absolute paths. */
    {"/admin", "text/html; charset=utf-8", scepd_console_html, &scepd_console_html_len},
    {"/admin/", "text/html; charset=utf-8", scepd_console_html, &scepd_console_html_len},
    {"/admin/console.js", "text/javascript; charset=utf-8", scepd_console_js,
     &scepd_console_js_len},
    {"/admin/console.css", "text/css; charset=utf-8", scepd_console_css, &scepd_console_css_len},
    {"/admin/favicon.svg", "image/svg+xml", scepd_console_icon, &scepd_console_icon_len},
};

int scepd_console_reply(const struct scepd_http_request *request,
                        struct scepd_http_response *response)
{
    if (strcmp(request->method, "GET") != 0)
        return 0;
    for (size_t i = 0; i < sizeof(console_files) / sizeof(console_files[0]); i++) {
        if (strcmp(request->path, console_files[i].path) != 0)
            continue;
        size_t len = *console_files[i].len;
        unsigned char *copy = malloc(len > 0 ? len : 1);
        if (copy == NULL) {
            response->status = 500;
            return 1;
        }
        memcpy(copy, console_files[i].data, len);
        response->status = 200;
        response->content_type = console_files[i].content_type;
        response->body = copy;
        response->body_len = len;
        return 1;
    }
    return 0;
}
