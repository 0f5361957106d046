/*
 * scepctl challenge: NDES-style one-time challenge passwords for RA-mode
 * aliases. `challenge new` prints a random challenge once; the store keeps
 * only its SHA-256, which scepd consumes on first use.
 */
#include "scepctl/scepctl.h"

#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define DEFAULT_TTL "1h"
#define MAX_TTL     (30LL * SCEP_CONFIG_DAY)
#define PATTERN_MAX 1024

static int challenge_new(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *alias = scepctl_arg(args, "alias");
    const char *ttl_text = scepctl_arg(args, "ttl");
    const char *pattern = scepctl_arg(args, "subject-pattern");
    long long ttl = 0;
    char challenge[SCEP_CHALLENGE_LEN + 1];
    int rc = 0;

    if (scep_config_parse_duration(&ttl, ttl_text != NULL ? ttl_text : DEFAULT_TTL, 1, MAX_TTL) < 0)
        return scepctl_usage(ctx, "--ttl: expected a duration from 1s to 30d (90s, 10m, 1h, 7d)");
    if (pattern != NULL && (pattern[0] == '\0' || strlen(pattern) > PATTERN_MAX))
        return scepctl_usage(ctx, "--subject-pattern: expected 1 to %d characters", PATTERN_MAX);
    if ((rc = scepctl_load_config(ctx)) != 0)
        return rc;
    const struct scep_config_alias_settings *settings = scep_config_alias(ctx->config, alias);
    if (settings == NULL)
        return scepctl_error(ctx, "no alias %s in the configuration (see scepctl alias list)",
                             alias);
    if (settings->operationmode != SCEP_ALIAS_MODE_RA)
        scepctl_warn(ctx,
                     "alias %s: operationmode is not ra, so scepd will not accept this "
                     "challenge until it is",
                     alias);
    else if (settings->ra_onetimechallenges == SCEP_ALIAS_CHALLENGES_OFF)
        scepctl_warn(ctx,
                     "alias %s: ra.onetimechallenges = off, so scepd will not accept this "
                     "challenge until it is accept or require",
                     alias);
    if ((rc = scepctl_open_store(ctx)) != 0)
        return rc;
    int64_t expires_at = 0;
    if (scep_store_challenge_new(challenge, &expires_at, ctx->store, alias, ttl, pattern) < 0) {
        rc = scepctl_fail(ctx, "cannot store the challenge");
        goto cleanup;
    }
    char when[32];
    scepctl_format_time(when, (long long)expires_at);
    /* Never the challenge itself in the audit trail. */
    scepctl_audit(ctx, "challenge_new", alias, pattern != NULL ? pattern : "any subject");
    fprintf(ctx->out, "%s\n", challenge);
    fprintf(ctx->err, "one-time challenge for alias %s, valid until %s%s%s\n", alias, when,
            pattern != NULL ? ", subject matching " : "", pattern != NULL ? pattern : "");

cleanup:
    OPENSSL_cleanse(challenge, sizeof(challenge));
    return rc;
}

static int challenge_purge(struct scepctl *ctx, const struct scepctl_args *args)
{
    (void)args;
    size_t count = 0;
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    if (scep_store_challenge_purge_expired(&count, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot purge the challenges");
    char detail[64];
    snprintf(detail, sizeof(detail), "%zu expired", count);
    scepctl_audit(ctx, "challenge_purge", NULL, detail);
    fprintf(ctx->out, "%zu expired challenge%s removed\n", count, count == 1 ? "" : "s");
    return 0;
}

static const struct scepctl_option new_options[] = {
    {"alias", "ALIAS", true, "the RA-mode alias the challenge is valid for"},
    {"ttl", "DURATION", false, "how long it stays valid: 90s, 10m, 1h (default), 7d; at most 30d"},
    {"subject-pattern", "DN", false,
     "the subject the CSR must have, a DN (RFC 4514 order, most specific first) whose "
     "values are globs, matched RDN by RDN: \"CN=kiosk-*,O=Example\""},
};

static const struct scepctl_command commands[] = {
    {"new", "new --alias ALIAS [--ttl DURATION] [--subject-pattern DN]",
     "Print a random one-time challenge password (128 bits) for an RA-mode alias.",
     "The challenge is printed once, on standard output; the store keeps only its SHA-256.\n"
     "scepd accepts it as the challengePassword of one PKCSReq on that alias, when the\n"
     "alias has operationmode = ra and ra.onetimechallenges = accept (default) or require.\n"
     "Its first use spends it, even when the request is then refused.",
     new_options, sizeof(new_options) / sizeof(new_options[0]), 0, 0, challenge_new},
    {"purge", "purge", "Delete expired challenges (used ones are kept until they expire).", NULL,
     NULL, 0, 0, 0, challenge_purge},
};

const struct scepctl_group scepctl_group_challenge = {
    "challenge", "One-time challenge passwords for RA mode: new, purge.", commands,
    sizeof(commands) / sizeof(commands[0]), false};
