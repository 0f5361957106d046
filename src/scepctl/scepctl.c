/*
 * scepctl's entry point: global options, the group/command tables, per-command
 * option parsing and the help texts generated from those tables.
 */
#include "scepctl/scepctl.h"

#include <stdlib.h>
#include <string.h>

#include "scep/common.h"
#include "scep/error.h"

static const struct scepctl_group *const groups[] = {
    &scepctl_group_ca,    &scepctl_group_ee,        &scepctl_group_cert, &scepctl_group_alias,
    &scepctl_group_audit, &scepctl_group_challenge, &scepctl_group_crl,  &scepctl_group_request,
    &scepctl_group_ra,    &scepctl_group_purge,     &scepctl_group_db,
};
#define GROUP_COUNT (sizeof(groups) / sizeof(groups[0]))

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

static void main_help(FILE *out)
{
    fprintf(out, "usage: scepctl [--config FILE] GROUP COMMAND [OPTIONS]\n"
                 "\n"
                 "Administers scepd: the CAs, end entities, certificates and aliases of the\n"
                 "configuration file and the store it names.\n"
                 "\n"
                 "global options:\n"
                 "  -c, --config FILE   configuration file (default " SCEPCTL_DEFAULT_CONFIG ",\n"
                 "                      used only when it exists)\n"
                 "  -h, --help          this text\n"
                 "      --version       print scepctl's version\n"
                 "\n"
                 "groups:\n");
    for (size_t i = 0; i < GROUP_COUNT; i++)
        fprintf(out, "  %-10s %s\n", groups[i]->name, groups[i]->summary);
    fprintf(out, "\n'scepctl GROUP --help' lists a group's commands; exit codes: 0 success,\n"
                 "1 error, 2 usage error.\n"
                 "See scepctl(8).\n");
}

static void group_help(FILE *out, const struct scepctl_group *group)
{
    fprintf(out, "usage: scepctl [--config FILE] %s COMMAND [OPTIONS]\n\n%s\n\ncommands:\n",
            group->name, group->summary);
    for (size_t i = 0; i < group->command_count; i++)
        fprintf(out, "  %-10s %s\n", group->commands[i].name, group->commands[i].summary);
    fprintf(out, "\n'scepctl %s COMMAND --help' describes a command.\n", group->name);
}

static void command_help(FILE *out, const struct scepctl_group *group,
                         const struct scepctl_command *command)
{
    fprintf(out, "usage: scepctl [--config FILE] %s %s\n\n%s\n", group->name, command->synopsis,
            command->summary);
    if (command->details != NULL)
        fprintf(out, "\n%s\n", command->details);
    if (command->option_count > 0)
        fprintf(out, "\noptions:\n");
    for (size_t i = 0; i < command->option_count; i++) {
        const struct scepctl_option *option = &command->options[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", option->name, option->arg ? " " : "",
                 option->arg ? option->arg : "");
        fprintf(out, "  %-24s %s%s\n", left, option->help, option->required ? " (required)" : "");
    }
    fprintf(out, "  %-24s %s\n", "-h, --help", "this text");
}

const char *scepctl_arg(const struct scepctl_args *args, const char *name)
{
    for (size_t i = 0; i < SCEPCTL_MAX_OPTIONS && args->options != NULL; i++) {
        if (args->options[i].name == NULL)
            break;
        if (strcmp(args->options[i].name, name) == 0)
            return args->values[i];
    }
    return NULL;
}

static const struct scepctl_option *find_option(const struct scepctl_command *command,
                                                const char *name, size_t name_len, size_t *index)
{
    for (size_t i = 0; i < command->option_count; i++) {
        if (strlen(command->options[i].name) == name_len &&
            strncmp(command->options[i].name, name, name_len) == 0) {
            *index = i;
            return &command->options[i];
        }
    }
    return NULL;
}

/*
 * Parses a command's arguments: "--name VALUE", "--name=VALUE", flags, "--" and
 * positionals. --config/-c is accepted here too, so it may follow the command.
 * Returns 0, or SCEPCTL_EXIT_USAGE after printing why; `*help` is set for --help.
 */
/* " " between group and command names, none for a group that is its command. */
#define SEP(command) ((command)->name[0] != '\0' ? " " : "")

static int parse_args(struct scepctl *ctx, struct scepctl_args *args, bool *help,
                      const struct scepctl_group *group, const struct scepctl_command *command,
                      int argc, char **argv)
{
    bool only_positional = false;
    memset(args, 0, sizeof(*args));
    args->options = command->options;
    *help = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (!only_positional && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            *help = true;
            return 0;
        }
        if (!only_positional && (strcmp(arg, "--config") == 0 || strcmp(arg, "-c") == 0)) {
            if (i + 1 >= argc)
                return scepctl_usage(ctx, "%s needs a FILE", arg);
            ctx->config_path = argv[++i];
            continue;
        }
        if (!only_positional && strncmp(arg, "--config=", 9) == 0) {
            ctx->config_path = arg + 9;
            continue;
        }
        if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (args->positional_count >= command->positional_max ||
                args->positional_count >= SCEPCTL_MAX_POSITIONAL)
                return scepctl_usage(ctx, "%s%s%s: unexpected argument \"%s\"", group->name,
                                     SEP(command), command->name, arg);
            args->positional[args->positional_count++] = arg;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return scepctl_usage(ctx, "%s%s%s: unknown option %s", group->name, SEP(command),
                                 command->name, arg);
        const char *name = arg + 2;
        const char *equals = strchr(name, '=');
        size_t name_len = equals ? (size_t)(equals - name) : strlen(name);
        size_t index = 0;
        const struct scepctl_option *option = find_option(command, name, name_len, &index);
        if (option == NULL)
            return scepctl_usage(ctx, "%s%s%s: unknown option --%.*s", group->name, SEP(command),
                                 command->name, (int)name_len, name);
        if (args->values[index] != NULL)
            return scepctl_usage(ctx, "%s%s%s: --%s given twice", group->name, SEP(command),
                                 command->name, option->name);
        if (option->arg == NULL) {
            if (equals != NULL)
                return scepctl_usage(ctx, "%s%s%s: --%s takes no value", group->name, SEP(command),
                                     command->name, option->name);
            args->values[index] = "";
        } else if (equals != NULL) {
            args->values[index] = equals + 1;
        } else {
            if (i + 1 >= argc)
                return scepctl_usage(ctx, "%s%s%s: --%s needs %s", group->name, SEP(command),
                                     command->name, option->name, option->arg);
            args->values[index] = argv[++i];
        }
    }
    for (size_t i = 0; i < command->option_count; i++)
        if (command->options[i].required && args->values[i] == NULL)
            return scepctl_usage(ctx, "%s%s%s: --%s %s is required", group->name, SEP(command),
                                 command->name, command->options[i].name, command->options[i].arg);
    if (args->positional_count < command->positional_min)
        return scepctl_usage(ctx, "%s%s%s: missing argument (usage: scepctl %s %s)", group->name,
                             SEP(command), command->name, group->name, command->synopsis);
    return 0;
}

static void ctx_free(struct scepctl *ctx)
{
    scep_store_close(ctx->store);
    scep_config_free(ctx->config);
    free(ctx->resolved_config);
}

static int run(struct scepctl *ctx, int argc, char **argv)
{
    int i = 1;
    /* Global options come before the group. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (is_help(argv[i])) {
            main_help(ctx->out);
            return SCEPCTL_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            fprintf(ctx->out, "scepctl %s\n", scep_version());
            return SCEPCTL_EXIT_OK;
        }
        if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) {
            if (i + 1 >= argc)
                return scepctl_usage(ctx, "%s needs a FILE", argv[i]);
            ctx->config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            ctx->config_path = argv[i] + 9;
        } else {
            return scepctl_usage(ctx, "unknown option %s", argv[i]);
        }
    }
    if (i >= argc) {
        main_help(ctx->err);
        return SCEPCTL_EXIT_USAGE;
    }
    if (is_help(argv[i])) {
        main_help(ctx->out);
        return SCEPCTL_EXIT_OK;
    }

    const struct scepctl_group *group = NULL;
    for (size_t g = 0; g < GROUP_COUNT; g++)
        if (strcmp(groups[g]->name, argv[i]) == 0)
            group = groups[g];
    if (group == NULL)
        return scepctl_usage(ctx,
                             "unknown group \"%s\" (ca, ee, cert, alias, audit, challenge, crl, "
                             "request, ra, purge, db)",
                             argv[i]);
    ctx->group_name = group->name;
    i++;
    if (group->direct) {
        struct scepctl_args args;
        bool help = false;
        int rc = parse_args(ctx, &args, &help, group, &group->commands[0], argc - i, argv + i);
        if (rc != 0)
            return rc;
        if (help) {
            command_help(ctx->out, group, &group->commands[0]);
            return SCEPCTL_EXIT_OK;
        }
        return group->commands[0].run(ctx, &args);
    }
    if (i >= argc) {
        group_help(ctx->err, group);
        return SCEPCTL_EXIT_USAGE;
    }
    if (is_help(argv[i])) {
        group_help(ctx->out, group);
        return SCEPCTL_EXIT_OK;
    }

    const struct scepctl_command *command = NULL;
    for (size_t c = 0; c < group->command_count; c++)
        if (strcmp(group->commands[c].name, argv[i]) == 0)
            command = &group->commands[c];
    if (command == NULL)
        return scepctl_usage(ctx, "%s: unknown command \"%s\"", group->name, argv[i]);
    ctx->command_name = command->name;
    i++;

    struct scepctl_args args;
    bool help = false;
    int rc = parse_args(ctx, &args, &help, group, command, argc - i, argv + i);
    if (rc != 0)
        return rc;
    if (help) {
        command_help(ctx->out, group, command);
        return SCEPCTL_EXIT_OK;
    }
    return command->run(ctx, &args);
}

int scepctl_main(int argc, char **argv, FILE *out, FILE *err)
{
    struct scepctl ctx = {.out = out, .err = err};
    int rc = run(&ctx, argc, argv);
    ctx_free(&ctx);
    if (fflush(out) != 0 && rc == SCEPCTL_EXIT_OK)
        rc = scepctl_error(&ctx, "cannot write the output");
    return rc;
}
