/*
 * `scepctl db backup FILE`: a consistent copy of the store while scepd runs
 * (docs/operations.md, Backups).
 */
#include "scepctl/scepctl.h"

#include "scep/error.h"

static int backup(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *path = args->positional[0];
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    if (scep_store_backup(ctx->store, path) < 0)
        return scepctl_fail(ctx, "cannot back up the store");
    fprintf(ctx->out, "store backed up to %s\n", path);
    return 0;
}

static const struct scepctl_command commands[] = {
    {"backup", "FILE", "Copy the store, consistently, into a new file (0600).",
     "Safe while scepd runs: the copy holds everything committed when it began (SQLite's\n"
     "online backup). FILE must not exist. Restore by stopping scepd and putting the copy\n"
     "in place of the database (and removing the old -wal and -shm files beside it).",
     NULL, 0, 1, 1, backup},
};

const struct scepctl_group scepctl_group_db = {"db", "Back up the store.", commands,
                                               sizeof(commands) / sizeof(commands[0]), false};
