/*
 * `scepctl db`: the store itself. backup (a consistent SQLite copy while scepd runs),
 * migrate and check (the schema version, the engine's own consistency check, the audit
 * chain) and copy (every row into a new store of any backend: moving from SQLite to
 * PostgreSQL). docs/operations.md, Backups and Several nodes.
 */
#include "scepctl/scepctl.h"

#include "scep/error.h"

#include <openssl/crypto.h>

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

/* The store named by --database, or the configuration's. */
static int open_target(struct scepctl *ctx, const struct scepctl_args *args, int create)
{
    const char *url = scepctl_arg(args, "database");
    if (url == NULL)
        return scepctl_open_store(ctx);
    int rc =
        create ? scep_store_open(&ctx->store, url) : scep_store_open_existing(&ctx->store, url);
    return rc < 0 ? scepctl_fail(ctx, "cannot open the store") : 0;
}

static int migrate(struct scepctl *ctx, const struct scepctl_args *args)
{
    /* Opening migrates, in one transaction, under the engine's lock: several nodes or a
     * second scepctl starting at the same moment wait for the first. */
    int rc = open_target(ctx, args, 1);
    if (rc != 0)
        return rc;
    int version = 0;
    if (scep_store_schema_version(&version, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot read the schema version");
    fprintf(ctx->out, "%s store at schema version %d (this scepctl writes %d)\n",
            scep_store_backend(ctx->store), version, scep_store_schema_version_supported());
    return 0;
}

static int check(struct scepctl *ctx, const struct scepctl_args *args)
{
    int rc = open_target(ctx, args, 0);
    if (rc != 0)
        return rc;
    int version = 0;
    if (scep_store_schema_version(&version, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot read the schema version");
    fprintf(ctx->out, "backend: %s, schema version %d\n", scep_store_backend(ctx->store), version);

    char *problem = NULL;
    if (scep_store_integrity_check(&problem, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot check the database");
    if (problem != NULL) {
        rc = scepctl_error(ctx, "the database is damaged: %s", problem);
        OPENSSL_free(problem);
        return rc;
    }
    fprintf(ctx->out, "database: consistent\n");

    scep_store_audit_check audit;
    if (scep_store_audit_verify(&audit, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot read the audit trail");
    if (audit.fault != SCEP_AUDIT_INTACT)
        return scepctl_error(ctx, "audit trail broken at event %lld: %s (scepctl audit verify)",
                             (long long)audit.event_id, scep_store_audit_fault_text(audit.fault));
    fprintf(ctx->out, "audit trail: intact, %llu events\n", (unsigned long long)audit.checked);

    scep_store_ca *cas = NULL;
    size_t ca_count = 0;
    if (scep_store_ca_list(&cas, &ca_count, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot list the CAs");
    scep_store_ca_list_free(cas, ca_count);
    fprintf(ctx->out, "CAs: %zu\n", ca_count);
    return 0;
}

static void copied(const char *table, size_t rows, void *arg)
{
    fprintf((FILE *)arg, "  %-16s %zu rows\n", table, rows);
}

static int copy(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *to_url = scepctl_arg(args, "to");
    const char *from_url = scepctl_arg(args, "from");
    int rc = 0;
    scep_store *from = NULL, *to = NULL;
    if (from_url != NULL) {
        if (scep_store_open_existing(&from, from_url) < 0)
            return scepctl_fail(ctx, "cannot open the source store");
    } else {
        if ((rc = scepctl_open_store(ctx)) != 0)
            return rc;
        from = ctx->store;
    }
    if (scep_store_open(&to, to_url) < 0) {
        rc = scepctl_fail(ctx, "cannot open the destination store");
        goto done;
    }
    fprintf(ctx->out, "copying the %s store into the %s store\n", scep_store_backend(from),
            scep_store_backend(to));
    if (scep_store_copy(to, from, copied, ctx->out) < 0) {
        rc = scepctl_fail(ctx, "cannot copy the store (the destination is left as it was)");
        goto done;
    }
    fprintf(ctx->out, "copied; point `database =` at the new store and restart scepd\n");
done:
    scep_store_close(to);
    if (from != ctx->store)
        scep_store_close(from);
    return rc;
}

static const struct scepctl_option database_options[] = {
    {"database", "URL", false, "this store instead of the configuration's database"},
};
static const struct scepctl_option copy_options[] = {
    {"to", "URL", true, "the new, empty store: postgresql://... or sqlite:PATH"},
    {"from", "URL", false, "the store to copy (default: the configuration's database)"},
};

static const struct scepctl_command commands[] = {
    {"backup", "FILE", "Copy the store, consistently, into a new file (0600).",
     "Safe while scepd runs: the copy holds everything committed when it began (SQLite's\n"
     "online backup). FILE must not exist. Restore by stopping scepd and putting the copy\n"
     "in place of the database (and removing the old -wal and -shm files beside it).\n"
     "A PostgreSQL store is backed up with pg_dump.",
     NULL, 0, 1, 1, backup},
    {"migrate", "migrate [--database URL]", "Bring the store to this version's schema.",
     "Creates the database when it does not exist. scepd and scepctl also migrate when they\n"
     "open an older store; this does it ahead of a rolling upgrade. Safe while other nodes\n"
     "run and when several start at once (one migrates, the others wait).",
     database_options, sizeof(database_options) / sizeof(database_options[0]), 0, 0, migrate},
    {"check", "check [--database URL]",
     "Check the store: schema version, consistency, audit chain.",
     "Exit 0 when all is well, 1 when the database or the audit chain is damaged.",
     database_options, sizeof(database_options) / sizeof(database_options[0]), 0, 0, check},
    {"copy", "copy --to URL [--from URL]",
     "Copy every row into a new, empty store (SQLite to PostgreSQL and back).",
     "CAs, aliases and settings, end entities, requests, certificates, challenges, the audit\n"
     "trail (its hash chain intact) and CRLs, ids included. The source is read from one\n"
     "snapshot; the destination is written in one transaction and must be empty. Stop scepd\n"
     "(or accept that what it writes after the snapshot is not copied), copy, point\n"
     "`database =` at the new store, start scepd. CA key files stay where they are.",
     copy_options, sizeof(copy_options) / sizeof(copy_options[0]), 0, 0, copy},
};

const struct scepctl_group scepctl_group_db = {"db", "The store: backup, migrate, check, copy.",
                                               commands, sizeof(commands) / sizeof(commands[0]),
                                               false};
