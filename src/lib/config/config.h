/*
 * scepd/scepctl configuration: one properties file holding scepd's global keys
 * and per-alias keys named like EJBCA's SCEP aliases (`ALIAS.operationmode`).
 *
 * The two X-macro tables below are the single source of truth: they generate
 * the typed structs scepd reads (`cfg->global.threads`), the table that the
 * parser, validation, `scepctl alias show` and docs/configuration.md use.
 *
 * Columns: X(field, name, type, default, min, max, allowed, check, flags, description)
 *   field    C member name in the generated struct
 *   name     key as written in the file (alias keys get an `ALIAS.` prefix)
 *   type     STRING BOOL INT SIZE DURATION ENUM LIST
 *   default  default value as text, or NULL for "unset"
 *   min/max  INT: value bounds; SIZE: bytes; DURATION: seconds; LIST: item count;
 *            STRING: length. 0/0 means no bound for STRING.
 *   allowed  ENUM (and LIST items): "a|b|c", matched case-insensitively, stored as
 *            the index; NULL otherwise
 *   check    extra syntax check: NONE, LISTEN (host:port), DATABASE (URL)
 *   flags    SCEP_CONFIG_SECRET: masked in `show` output, wiped on free
 *
 * Descriptions are one line and must not contain a newline.
 */
#ifndef SCEP_CONFIG_H
#define SCEP_CONFIG_H

#include "scep/common.h"
#include "scep/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCEP_CONFIG_SECRET 1u

#define SCEP_CONFIG_KIB  (1024LL)
#define SCEP_CONFIG_MIB  (1024LL * 1024LL)
#define SCEP_CONFIG_MIN  (60LL)
#define SCEP_CONFIG_HOUR (3600LL)
#define SCEP_CONFIG_DAY  (86400LL)

/* clang-format off */
#define SCEP_CONFIG_GLOBAL_SETTINGS(X)                                                             \
    X(listen, "listen", LIST, "127.0.0.1:8080", 1, 16, NULL, LISTEN, 0,                            \
      "Addresses to listen on, comma-separated: IPv4:port, [IPv6]:port or name:port")              \
    X(database, "database", STRING, "sqlite:/var/lib/scepd/scepd.db", 0, 4096, NULL, DATABASE, 0,  \
      "Database: sqlite:PATH, or postgresql://USER@HOST:PORT/DB?sslmode=... (docs/postgresql.md)") \
    X(database_password_file, "database_password_file", STRING, NULL, 1, 4096, NULL, NONE, 0,      \
      "PostgreSQL: a file (mode 0600 or stricter) whose first line is the role's password")         \
    X(pkcs11_module, "pkcs11_module", STRING, NULL, 1, 4096, NULL, NONE, 0,                        \
      "PKCS#11 module for pkcs11: key references (e.g. /usr/lib/softhsm/libsofthsm2.so)")          \
    X(pkcs11_pin_file, "pkcs11_pin_file", STRING, NULL, 1, 4096, NULL, NONE, 0,                    \
      "File (mode 0600 or stricter, owned by the user) whose first line is the token's user PIN") \
    X(threads, "threads", INT, "0", 0, 1024, NULL, NONE, 0,                                        \
      "HTTP threads, reading requests and writing replies; 0 means one per CPU core")             \
    X(workers, "workers", INT, "0", 0, 1024, NULL, NONE, 0,                                        \
      "Threads answering SCEP requests (signing, store commits); 0 means four per CPU core")       \
    X(max_body, "max_body", SIZE, "1M", SCEP_CONFIG_KIB, 64 * SCEP_CONFIG_MIB, NULL, NONE, 0,     \
      "Largest accepted request body (POST PKIOperation or GET message)")                          \
    X(connection_timeout, "connection_timeout", DURATION, "30s", 1, SCEP_CONFIG_HOUR, NULL, NONE,  \
      0, "Idle time after which a client connection is closed")                                    \
    X(request_timeout, "request_timeout", DURATION, "60s", 1, SCEP_CONFIG_HOUR, NULL, NONE, 0,     \
      "Longest time one request may take, from first byte to response")                            \
    X(max_connections, "max_connections", INT, "1000", 1, 100000, NULL, NONE, 0,                   \
      "Client connections open at once over all listeners; more are closed on accept")             \
    X(max_connections_per_client, "max_connections_per_client", INT, "32", 1, 100000, NULL, NONE,  \
      0, "Client connections open at once from one IP address on one listener")                    \
    X(body_memory, "body_memory", SIZE, "64M", SCEP_CONFIG_KIB, 4096 * SCEP_CONFIG_MIB, NULL,      \
      NONE, 0, "Request bodies buffered at once over all connections, 1/8 kept for bodies up to "  \
      "64K; more get 503 (>= 8/7 max_body)")                                                      \
    X(log_level, "log_level", ENUM, "info", 0, 0, "error|warn|info|debug", NONE, 0,                \
      "Least severe log level written")                                                            \
    X(state_dir, "state_dir", STRING, "/var/lib/scepd", 1, 4096, NULL, NONE, 0,                    \
      "Directory for keys and state files")                                                        \
    X(pid_file, "pid_file", STRING, NULL, 0, 4096, NULL, NONE, 0,                                  \
      "Write the daemon's process id to this file (unset: no pid file)")                           \
    X(legacy_algorithms, "legacy_algorithms", BOOL, "false", 0, 0, NULL, NONE, 0,                  \
      "Allow MD5, single DES and SHA-1 replies at all; each alias must still enable `legacy`")     \
    X(crl_validity, "crl_validity", DURATION, "7d", SCEP_CONFIG_HOUR, 365 * SCEP_CONFIG_DAY, NULL, \
      NONE, 0, "CRL lifetime: nextUpdate is thisUpdate plus this")                                 \
    X(crl_regenerate_before, "crl_regenerate_before", DURATION, "1d", 0, 365 * SCEP_CONFIG_DAY,    \
      NULL, NONE, 0, "Replace the stored CRL this long before its nextUpdate (capped at half)")    \
    X(crl_base_url, "crl_base_url", STRING, NULL, 0, 2048, NULL, NONE, 0,                          \
      "Put a CRL distribution point BASE/CA.crl in issued certificates (unset: none)")             \
    X(admin_listen, "admin_listen", LIST, NULL, 0, 16, NULL, LISTEN, 0,                            \
      "Admin listener addresses (GET /admin/challenge, the API under /admin/api/, the web "        \
      "console at /admin/), like listen (unset: no admin listener)")                               \
    X(admin_token, "admin_token", STRING, NULL, 0, 1024, NULL, NONE, SCEP_CONFIG_SECRET,           \
      "Admin listener bearer token (Authorization: Bearer TOKEN)")                                 \
    X(admin_user, "admin_user", STRING, NULL, 0, 256, NULL, NONE, SCEP_CONFIG_SECRET,              \
      "Admin listener HTTP Basic user name (with admin_password)")                                 \
    X(admin_password, "admin_password", STRING, NULL, 0, 1024, NULL, NONE, SCEP_CONFIG_SECRET,     \
      "Admin listener HTTP Basic password (with admin_user)")                                      \
    X(admin_tls_cert, "admin_tls_cert", STRING, NULL, 0, 4096, NULL, NONE, 0,                      \
      "PEM certificate file: the admin listener speaks HTTPS (with admin_tls_key)")                \
    X(admin_tls_key, "admin_tls_key", STRING, NULL, 0, 4096, NULL, NONE, 0,                        \
      "PEM private key file of admin_tls_cert")                                                    \
    X(admin_challenge_ttl, "admin_challenge_ttl", DURATION, "1h", 1, 30 * SCEP_CONFIG_DAY, NULL,    \
      NONE, 0, "Default lifetime of a challenge from the admin listener (ttl= overrides it)")      \
    X(max_failed_codes, "max_failed_codes", INT, "10", 0, 100000, NULL, NONE, 0,                  \
      "Wrong enrollment codes after which an end entity is locked until ee reset (0: never)")     \
    X(failed_auth_limit, "failed_auth_limit", INT, "30", 0, 1000000, NULL, NONE, 0,                \
      "Failed authorisations from one client address per minute before its requests are "         \
      "refused unchecked (0: no limit)")                                                           \
    X(user, "user", STRING, NULL, 0, 256, NULL, NONE, 0,                                           \
      "Run as this user (and its groups) once the listeners are bound; required when started "    \
      "as root")                                                                                   \
    X(request_retention, "request_retention", DURATION, "30d", 0, 3650 * SCEP_CONFIG_DAY, NULL,   \
      NONE, 0, "scepd deletes refused and failed requests this long after their answer (0: keeps " \
      "them)")                                                                                     \
    X(audit_retention, "audit_retention", DURATION, "365d", 0, 36500 * SCEP_CONFIG_DAY, NULL,     \
      NONE, 0, "Age from which the oldest audit events may be purged, as a contiguous prefix, by " \
      "an explicit purge (0: never); scepd itself keeps them")                                     \
    X(default_alias, "default_alias", STRING, NULL, 0, 64, NULL, NONE, 0,                          \
      "Alias of /scep/pkiclient.exe and NDES paths, and of end entities added without --alias "    \
      "(unset: the only alias; scep when the file configures none)")                             \
    X(metrics_listen, "metrics_listen", LIST, NULL, 0, 16, NULL, LISTEN, 0,                        \
      "Addresses of a listener serving GET /metrics WITHOUT authentication, like listen: "        \
      "localhost or a management network only (unset: none; /metrics is on admin_listen)")       \
    X(log_format, "log_format", ENUM, "text", 0, 0, "text|json", NONE, 0,                          \
      "Log lines as key=value text, or one JSON object per line with the same keys plus time "    \
      "and level")                                                                                 \
    X(log_target, "log_target", ENUM, "stderr", 0, 0, "stderr|syslog|journal", NONE, 0,            \
      "Where scepd logs: stderr; syslog(3) with facility daemon; journal: stderr with <N> "       \
      "priority prefixes, which journald reads as each line's priority")                          \
    X(relay_listen, "relay_listen", LIST, NULL, 0, 4, NULL, LISTEN, 0,                            \
      "Relay node: addresses the CA node connects to over mutual TLS, like listen (unset: not a "  \
      "relay; operations.md, A relay in the DMZ)")                                                 \
    X(relay_connect, "relay_connect", LIST, NULL, 0, 1, NULL, LISTEN, 0,                           \
      "CA node: the relay node's relay_listen address, HOST:PORT, to which this node connects "    \
      "out (unset: serves no relay)")                                                              \
    X(relay_tls_cert, "relay_tls_cert", STRING, NULL, 0, 4096, NULL, NONE, 0,                      \
      "PEM certificate of this node on the relay channel (relay: server, CA node: client)")        \
    X(relay_tls_key, "relay_tls_key", STRING, NULL, 0, 4096, NULL, NONE, 0,                        \
      "PEM private key of relay_tls_cert (mode 0600, owned by scepd)")                            \
    X(relay_tls_ca, "relay_tls_ca", STRING, NULL, 0, 4096, NULL, NONE, 0,                          \
      "PEM CA certificate(s) that must have issued the peer's relay channel certificate, and "     \
      "nothing else")                                                                              \
    X(relay_peer_name, "relay_peer_name", STRING, NULL, 1, 253, NULL, NONE, 0,                     \
      "Relay node: the name the CA node's channel certificate must carry (a DNS "                 \
      "subjectAltName, or its CN when it has none); required with relay_listen, so that no other " \
      "holder of a relay_tls_ca certificate can act as the CA node")                              \
    X(relay_connections, "relay_connections", INT, "4", 1, 64, NULL, NONE, 0,                      \
      "CA node: relay channel connections kept open, each answering one request at a time")        \
    X(relay_timeout, "relay_timeout", DURATION, "20s", 1, 5 * SCEP_CONFIG_MIN, NULL, NONE, 0,       \
      "Relay node: longest wait for the CA's answer before the client gets PENDING")               \
    X(relay_state, "relay_state", STRING, NULL, 0, 4096, NULL, NONE, 0,                            \
      "Relay node: SQLite file of the queued requests and the CA data pushed (unset: "             \
      "state_dir/relay.db)")                                                                       \
    X(relay_queue_max, "relay_queue_max", INT, "10000", 1, 1000000, NULL, NONE, 0,                \
      "Relay node: most requests waiting for the CA node; a new one beyond gets 503")             \
    X(relay_queue_per_client, "relay_queue_per_client", INT, "100", 1, 1000000, NULL, NONE, 0,    \
      "Relay node: most requests waiting for the CA node from one client address; a new one "     \
      "beyond gets 503")                                                                           \
    X(store_poll_interval, "store_poll_interval", DURATION, "2s", 0, SCEP_CONFIG_HOUR, NULL, NONE, \
      0,                                                                                           \
      "How often scepd asks the store whether CAs, aliases or alias settings changed, and then "  \
      "reloads (0: only on SIGHUP)")

#define SCEP_CONFIG_ALIAS_SETTINGS(X)                                                              \
    X(operationmode, "operationmode", ENUM, "ca", 0, 0, "ca|ra|relay", NONE, 0,                    \
      "ca: requests are authorised by end entities; ra: by the RA shared secret; relay: handed "   \
      "to the CA node that connects to relay_listen")                                              \
    X(relayed, "relayed", BOOL, "false", 0, 0, NULL, NONE, 0,                                      \
      "CA node: accept this alias's requests through the relay of relay_connect")                  \
    X(includeca, "includeca", BOOL, "true", 0, 0, NULL, NONE, 0,                                   \
      "Include the CA certificate after the issued certificate in CertRep")                        \
    X(includeroot, "includeroot", BOOL, "true", 0, 0, NULL, NONE, 0,                               \
      "GetCACert of a CA under a root: send the chain up to the root (RFC 8894 4.2.1.2)")         \
    X(defaultca, "defaultca", STRING, NULL, 0, 256, NULL, NONE, 0,                                 \
      "CA used when the request's CA identifier is unknown (CA mode)")                             \
    X(certificateprofile, "certificateprofile", STRING, "ENDUSER", 1, 256, NULL, NONE, 0,          \
      "Certificate profile for CA mode")                                                           \
    X(endentityprofile, "endentityprofile", STRING, NULL, 0, 256, NULL, NONE, 0,                   \
      "End entity profile for CA mode")                                                            \
    X(ra_authpwd, "ra.authPwd", STRING, NULL, 0, 1024, NULL, NONE, SCEP_CONFIG_SECRET,             \
      "RA mode shared secret that the challengePassword must match")                               \
    X(ra_defaultca, "ra.defaultCA", STRING, NULL, 0, 256, NULL, NONE, 0,                           \
      "CA that issues in RA mode")                                                                 \
    X(ra_certificateprofile, "ra.certificateProfile", STRING, "ENDUSER", 1, 256, NULL, NONE, 0,    \
      "Certificate profile for RA mode")                                                           \
    X(ra_endentityprofile, "ra.endEntityProfile", STRING, NULL, 0, 256, NULL, NONE, 0,             \
      "End entity profile for RA mode (EJBCA also writes ra.entityProfile)")                       \
    X(ra_namegenerationscheme, "ra.namegenerationscheme", ENUM, "DN", 0, 0,                        \
      "DN|RANDOM|FIXED|USERNAME", NONE, 0,                                                         \
      "How RA mode derives the end entity username")                                               \
    X(ra_namegenerationparameters, "ra.namegenerationparameters", STRING, "CN", 0, 256, NULL,      \
      NONE, 0, "Parameter of the scheme: DN parts (CN;O) for DN, the name for FIXED")              \
    X(ra_namegenerationprefix, "ra.namegenerationprefix", STRING, NULL, 0, 256, NULL, NONE, 0,     \
      "Text put before generated usernames")                                                       \
    X(ra_namegenerationpostfix, "ra.namegenerationpostfix", STRING, NULL, 0, 256, NULL, NONE, 0,   \
      "Text put after generated usernames")                                                        \
    X(ra_onexisting, "ra.onexisting", ENUM, "reissue", 0, 0, "reissue|refuse", NONE, 0,            \
      "RA mode, generated username already holds a valid certificate: reissue (EJBCA) or refuse")  \
    X(ra_onetimechallenges, "ra.onetimechallenges", ENUM, "accept", 0, 0, "off|accept|require",    \
      NONE, 0, "RA mode one-time challenges (scepctl challenge new): off, accept, require")        \
    X(webhook_url, "webhook.url", STRING, NULL, 0, 2048, NULL, NONE, 0,                            \
      "POST each enrollment here for authorisation before issuing (unset: no webhook)")            \
    X(webhook_secret, "webhook.secret", STRING, NULL, 0, 1024, NULL, NONE, SCEP_CONFIG_SECRET,     \
      "HMAC-SHA256 key of the X-SCEP-Signature header")                                            \
    X(webhook_timeout, "webhook.timeout", DURATION, "5s", 1, 5 * SCEP_CONFIG_MIN, NULL, NONE, 0,   \
      "Longest wait for one webhook answer")                                                       \
    X(webhook_retries, "webhook.retries", INT, "1", 0, 10, NULL, NONE, 0,                          \
      "Webhook attempts repeated after a timeout or connection failure")                           \
    X(webhook_failopen, "webhook.failopen", BOOL, "false", 0, 0, NULL, NONE, 0,                    \
      "Issue when the webhook cannot be reached (false: refuse, fail closed)")                     \
    X(clientcertificaterenewal, "clientCertificateRenewal", BOOL, "false", 0, 0, NULL, NONE, 0,    \
      "Accept renewal requests signed by a certificate this CA issued")                            \
    X(allowclientcertificaterenewawitholdkey, "allowClientCertificateRenewaWithOldKey", BOOL,      \
      "false", 0, 0, NULL, NONE, 0, "Let a renewal reuse the old key pair (EJBCA's spelling)")     \
    X(renewal_afterhalflife, "renewal.afterHalfLife", BOOL, "true", 0, 0, NULL, NONE, 0,          \
      "Refuse a renewal until half of the old certificate's validity has passed")                  \
    X(renewal_revokeold, "renewal.revokeOld", BOOL, "false", 0, 0, NULL, NONE, 0,                  \
      "Revoke the renewed certificate (reason superseded) when its successor is issued")           \
    X(renewal_samesubject, "renewal.sameSubject", BOOL, "true", 0, 0, NULL, NONE, 0,               \
      "Refuse a renewal whose CSR subject differs from the old certificate's subject")             \
    X(approval, "approval", ENUM, "auto", 0, 0, "auto|manual", NONE, 0,                            \
      "auto: issue at once; manual: answer PENDING until an operator approves")                    \
    X(usernamefield, "usernamefield", LIST, "CN", 1, 8,                                            \
      "CN|serialNumber|UID|emailAddress|unstructuredName|unstructuredAddress|OU|O|DC", NONE, 0,    \
      "Subject RDNs to take the CA mode username from, first present wins")                        \
    X(legacy, "legacy", BOOL, "false", 0, 0, NULL, NONE, 0,                                        \
      "Allow MD5, single DES and SHA-1 replies for old clients (needs legacy_algorithms)")         \
    X(pendingexpiry, "pendingexpiry", DURATION, "7d", SCEP_CONFIG_MIN, 365 * SCEP_CONFIG_DAY,      \
      NULL, NONE, 0, "How long a PENDING request waits for approval before it is rejected")    \
    X(cas, "cas", LIST, NULL, 0, 16, NULL, NONE, 0,                                                \
      "More CAs this alias serves, picked by the CA identifier (message=) case-insensitively")     \
    X(strictcaid, "strictcaid", BOOL, "false", 0, 0, NULL, NONE, 0,                                \
      "Answer 404 to an unknown CA identifier instead of using the alias's CA (interop.md §3)")    \
    X(sanfromunstructuredname, "sanfromunstructuredname", BOOL, "false", 0, 0, NULL, NONE, 0,      \
      "Add a dNSName SAN from the CSR subject's unstructuredName (Cisco PIX/IOS)")                 \
    X(ra_cert, "ra.cert", STRING, NULL, 0, 4096, NULL, NONE, 0,                                    \
      "RA certificate file (PEM) used for SCEP instead of the CA key; issued by the alias's CA")   \
    X(ra_key, "ra.key", STRING, NULL, 0, 4096, NULL, NONE, 0,                                      \
      "Private key of ra.cert (mode 0600, owned by scepd)")                                       \
    X(ra_signcert, "ra.signcert", STRING, NULL, 0, 4096, NULL, NONE, 0,                            \
      "Split RA: signing-only RA certificate; ra.cert is then the encryption certificate")         \
    X(ra_signkey, "ra.signkey", STRING, NULL, 0, 4096, NULL, NONE, 0,                              \
      "Private key of ra.signcert (mode 0600, owned by scepd)")                                   \
    X(names_csr, "names.csr", ENUM, "registered", 0, 0, "registered|refuse|constrained", NONE, 0, \
      "CA mode, CSR SANs beyond the registered ones: registered (not copied, logged), refuse, "    \
      "or constrained (copied when within names.santypes and names.dnssuffixes, else refused)")    \
    X(names_subject, "names.subject", STRING, NULL, 0, 1024, NULL, NONE, 0,                        \
      "RA mode and challenges: subject pattern, RFC 4514, one glob per RDN value "                 \
      "(CN=*,O=Example); unset: any subject")                                                      \
    X(names_santypes, "names.santypes", LIST, "dns,ip,email,uri,upn", 0, 5,                        \
      "dns|ip|email|uri|upn", NONE, 0,                                                             \
      "RA mode, challenges, names.csr = constrained: subjectAltName types a request may carry")     \
    X(names_dnssuffixes, "names.dnssuffixes", LIST, NULL, 0, 32, NULL, NONE, 0,                    \
      "RA mode, challenges, names.csr = constrained: domains dNSNames, email and UPN domains "    \
      "must lie in "                                                                               \
      "(example.com allows it and *.example.com); unset: any")
/* clang-format on */

/* Index of each allowed value; order matches the `allowed` column above. */
enum scep_config_log_level {
    SCEP_CONFIG_LOG_ERROR = 0,
    SCEP_CONFIG_LOG_WARN = 1,
    SCEP_CONFIG_LOG_INFO = 2,
    SCEP_CONFIG_LOG_DEBUG = 3
};
enum scep_config_log_format { SCEP_CONFIG_LOG_TEXT = 0, SCEP_CONFIG_LOG_JSON = 1 };
enum scep_config_log_target {
    SCEP_CONFIG_LOG_STDERR = 0,
    SCEP_CONFIG_LOG_SYSLOG = 1,
    SCEP_CONFIG_LOG_JOURNAL = 2
};
enum scep_alias_operationmode {
    SCEP_ALIAS_MODE_CA = 0,
    SCEP_ALIAS_MODE_RA = 1,
    SCEP_ALIAS_MODE_RELAY = 2
};
enum scep_alias_namegenerationscheme {
    SCEP_ALIAS_NAME_DN = 0,
    SCEP_ALIAS_NAME_RANDOM = 1,
    SCEP_ALIAS_NAME_FIXED = 2,
    SCEP_ALIAS_NAME_USERNAME = 3
};
enum scep_alias_ra_onexisting { SCEP_ALIAS_RA_REISSUE = 0, SCEP_ALIAS_RA_REFUSE = 1 };
enum scep_alias_ra_onetimechallenges {
    SCEP_ALIAS_CHALLENGES_OFF = 0,
    SCEP_ALIAS_CHALLENGES_ACCEPT = 1,
    SCEP_ALIAS_CHALLENGES_REQUIRE = 2
};
enum scep_alias_approval { SCEP_ALIAS_APPROVAL_AUTO = 0, SCEP_ALIAS_APPROVAL_MANUAL = 1 };
enum scep_alias_names_csr {
    SCEP_ALIAS_NAMES_REGISTERED = 0,
    SCEP_ALIAS_NAMES_REFUSE = 1,
    SCEP_ALIAS_NAMES_CONSTRAINED = 2
};

/* A LIST value: `count` owned strings (for LIST with `allowed`, the canonical names). */
struct scep_config_list {
    size_t count;
    char **items;
};

/* C type of each setting type. STRING is NULL when unset. */
#define SCEP_CONFIG_CTYPE_STRING   char *
#define SCEP_CONFIG_CTYPE_BOOL     bool
#define SCEP_CONFIG_CTYPE_INT      long long
#define SCEP_CONFIG_CTYPE_SIZE     long long /* bytes */
#define SCEP_CONFIG_CTYPE_DURATION long long /* seconds */
#define SCEP_CONFIG_CTYPE_ENUM     int       /* index into `allowed` */
#define SCEP_CONFIG_CTYPE_LIST     struct scep_config_list

#define SCEP_CONFIG_FIELD_(field, name, type, def, min, max, allowed, check, flags, desc)          \
    SCEP_CONFIG_CTYPE_##type field;

/* Effective global values (defaults applied). */
struct scep_config_global {
    SCEP_CONFIG_GLOBAL_SETTINGS(SCEP_CONFIG_FIELD_)
};

/* Effective values of one alias (defaults applied). */
struct scep_config_alias_settings {
    SCEP_CONFIG_ALIAS_SETTINGS(SCEP_CONFIG_FIELD_)
};

enum scep_config_type {
    SCEP_CONFIG_TYPE_STRING,
    SCEP_CONFIG_TYPE_BOOL,
    SCEP_CONFIG_TYPE_INT,
    SCEP_CONFIG_TYPE_SIZE,
    SCEP_CONFIG_TYPE_DURATION,
    SCEP_CONFIG_TYPE_ENUM,
    SCEP_CONFIG_TYPE_LIST
};
enum scep_config_check {
    SCEP_CONFIG_CHECK_NONE,
    SCEP_CONFIG_CHECK_LISTEN,
    SCEP_CONFIG_CHECK_DATABASE
};
enum scep_config_scope { SCEP_CONFIG_SCOPE_GLOBAL, SCEP_CONFIG_SCOPE_ALIAS };

/* One row of the settings table. */
struct scep_config_setting {
    const char *name;
    enum scep_config_scope scope;
    enum scep_config_type type;
    const char *default_value; /* NULL: unset */
    long long min, max;
    const char *allowed; /* "a|b|c" or NULL */
    enum scep_config_check check;
    unsigned flags;
    const char *description;
    size_t offset; /* of the field in scep_config_global / scep_config_alias_settings */
};

/* The settings table of one scope; *out_count receives its length. Never NULL. */
const struct scep_config_setting *scep_config_settings(enum scep_config_scope scope,
                                                       size_t *out_count);

/* The row for `name` (case-insensitive) in `scope`, or NULL. */
const struct scep_config_setting *scep_config_setting_find(enum scep_config_scope scope,
                                                           const char *name);

/*
 * EJBCA alias keys that appear in real exports. A synonym is stored as the key
 * it names; an ignored key is accepted with a warning (scepd has no such
 * feature). Any other unknown key is an error.
 */
struct scep_config_ejbca_key {
    const char *name;
    const char *synonym_of; /* NULL: ignored */
};
const struct scep_config_ejbca_key *scep_config_ejbca_keys(size_t *out_count);

/* Longest alias name; alias names are [A-Za-z0-9_-]+. */
#define SCEP_CONFIG_ALIAS_NAME_MAX 64
/* Limits of what the reader accepts. */
#define SCEP_CONFIG_FILE_MAX    (1024 * 1024)
#define SCEP_CONFIG_LINE_MAX    (64 * 1024)
#define SCEP_CONFIG_ALIASES_MAX 4096

typedef struct scep_config scep_config;

/* A config holding every default and no alias. Free with scep_config_free. */
SCEP_MUST_CHECK int scep_config_new(scep_config **out);
void scep_config_free(scep_config *cfg);

/*
 * Parses the properties file at `path` into a new config (*out, caller's).
 * Errors are SCEP_ECONFIG ("PATH:LINE: KEY: what is wrong"), SCEP_EIO or
 * SCEP_ETOOBIG. Warnings (ignored EJBCA keys) are kept in the config.
 */
SCEP_MUST_CHECK int scep_config_load(scep_config **out, const char *path);

/* As scep_config_load for text in memory; `name` is used in messages. */
SCEP_MUST_CHECK int scep_config_parse(scep_config **out, const char *name, const char *text,
                                      size_t len);

/*
 * Reads an EJBCA SCEP alias export (Java .properties, `ALIAS.key=value`) and
 * stores one alias in `cfg`, replacing an alias of the same name.
 * `alias` NULL: the file must hold exactly one alias, stored under its name.
 * `alias` set: its keys are taken when the file has that alias; otherwise the
 * file must hold exactly one alias, which is stored under `alias`.
 * Keys of other aliases and keys without an alias are skipped. On error `cfg`
 * is unchanged.
 */
SCEP_MUST_CHECK int scep_config_import_alias_file(scep_config *cfg, const char *path,
                                                  const char *alias);
SCEP_MUST_CHECK int scep_config_import_alias_text(scep_config *cfg, const char *name,
                                                  const char *text, size_t len, const char *alias);

/* Effective global values, borrowed from cfg. */
const struct scep_config_global *scep_config_global_values(const scep_config *cfg);
/*
 * The name of the first setting flagged SCEP_CONFIG_SECRET that the file sets
 * (global or of any alias, e.g. "ra.authPwd"), or NULL when it sets none.
 */
const char *scep_config_secret_setting(const scep_config *cfg);

/* Aliases in file order: count, name of the i-th, and lookup by exact name. */
size_t scep_config_alias_count(const scep_config *cfg);
const char *scep_config_alias_name(const scep_config *cfg, size_t index);
/* The alias a configuration with no alias at all serves (scepd creates it then). */
#define SCEP_CONFIG_BUILTIN_ALIAS "scep"
/*
 * The default alias: what /scep/pkiclient.exe and the NDES paths serve, and what an
 * end entity added without an alias belongs to. `default_alias` when set (NULL when it
 * names no configured alias); else the only configured alias; else SCEP_CONFIG_BUILTIN_ALIAS
 * when the file configures none (or configures it); else NULL: no default.
 */
const char *scep_config_default_alias(const scep_config *cfg);
/* The alias's effective values, borrowed from cfg; NULL when there is no such alias. */
const struct scep_config_alias_settings *scep_config_alias(const scep_config *cfg,
                                                           const char *alias);

/* Adds an alias with default values (SCEP_EEXISTS if present, SCEP_ECONFIG if badly named). */
SCEP_MUST_CHECK int scep_config_alias_add(scep_config *cfg, const char *alias);
/* Removes an alias (SCEP_ENOTFOUND when absent). */
SCEP_MUST_CHECK int scep_config_alias_remove(scep_config *cfg, const char *alias);

/*
 * Sets one key (global when `alias` is NULL) after validating `value`, as
 * `scepctl alias set ALIAS KEY=VALUE` does. An empty value restores the
 * default. SCEP_ECONFIG names the key; SCEP_ENOTFOUND for a missing alias.
 */
SCEP_MUST_CHECK int scep_config_set(scep_config *cfg, const char *alias, const char *key,
                                    const char *value);

/* Warnings collected while parsing/importing ("file:line: key: ..."); borrowed. */
/*
 * Opens the store `database` names, with the password of `database_password_file`
 * (refused when others may read the file); `must_exist` as scep_store_open_options.
 */
SCEP_MUST_CHECK int scep_config_store_open(scep_store **out, const scep_config *cfg,
                                           int must_exist);
/*
 * The options scep_config_store_open uses, for a caller that opens many connections: the
 * password is read once into `*out_password` (NULL when none), which the caller wipes
 * and frees with OPENSSL_clear_free(p, strlen(p) + 1) after its last open.
 */
SCEP_MUST_CHECK int scep_config_store_options(scep_store_open_options *out, char **out_password,
                                              const scep_config *cfg, int must_exist);

size_t scep_config_warning_count(const scep_config *cfg);
const char *scep_config_warning(const scep_config *cfg, size_t index);

/* Flags of scep_config_foreach and scep_config_format. */
#define SCEP_CONFIG_SHOW_SECRETS  1u /* foreach: pass secrets instead of "********" */
#define SCEP_CONFIG_WITH_DEFAULTS 2u /* format: also write keys left at their default */
#define SCEP_CONFIG_MASK_SECRETS  4u /* format: write secrets as "********" */

/*
 * Calls `cb` for every setting of one scope (global when `alias` is NULL) in
 * table order, with its effective value as text (NULL when unset) and whether
 * it was set explicitly. Secrets are masked unless SCEP_CONFIG_SHOW_SECRETS.
 * Stops and returns cb's value when it is non-zero.
 */
typedef int (*scep_config_foreach_cb)(const struct scep_config_setting *setting, const char *value,
                                      bool is_set, void *payload);
SCEP_MUST_CHECK int scep_config_foreach(const scep_config *cfg, const char *alias, unsigned flags,
                                        scep_config_foreach_cb cb, void *payload);

/*
 * Writes cfg back as a properties file that scep_config_parse reads to the same
 * values (*out: caller's, free()): global keys, then each alias's keys. Only
 * keys set explicitly unless SCEP_CONFIG_WITH_DEFAULTS; secrets in clear unless
 * SCEP_CONFIG_MASK_SECRETS.
 */
SCEP_MUST_CHECK int scep_config_format(const scep_config *cfg, unsigned flags, char **out);

/* The settings reference in Markdown (*out: caller's, free()). */
SCEP_MUST_CHECK int scep_config_markdown(char **out);
/* The same reference in troff for scepd.conf(5) (*out: caller's, free()). */
SCEP_MUST_CHECK int scep_config_manpage(char **out);

/* ---- value parsers (all return 0 or SCEP_ECONFIG with "expected ..., got \"...\"") ---- */

SCEP_MUST_CHECK int scep_config_parse_bool(bool *out, const char *text);
SCEP_MUST_CHECK int scep_config_parse_int(long long *out, const char *text, long long min,
                                          long long max);
/* "512", "64K", "1M", "1G" (powers of 1024, suffix case-insensitive). */
SCEP_MUST_CHECK int scep_config_parse_size(long long *out, const char *text, long long min,
                                           long long max);
/* "90" or "90s", "10m", "1h", "7d"; result in seconds. */
SCEP_MUST_CHECK int scep_config_parse_duration(long long *out, const char *text, long long min,
                                               long long max);

/* A parsed `listen` entry. */
struct scep_listen_addr {
    char host[256]; /* without brackets; "" is never produced */
    uint16_t port;  /* 0: any free port (tests) */
    int family;     /* AF_INET, AF_INET6, or AF_UNSPEC for a host name */
};
/* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80", "localhost:8080". */
SCEP_MUST_CHECK int scep_config_parse_listen(struct scep_listen_addr *out, const char *text);

#endif /* SCEP_CONFIG_H */
