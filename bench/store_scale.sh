#!/usr/bin/env bash
# `make bench-store-scale`: does scepd's cost stay flat as the store grows? Fills a SQLite
# store with BENCH_STORE_ROWS (default 10^6) certificates, their request rows and their end
# entities (1% of the certificates revoked), with direct SQL inserts shaped like scepd's own
# rows (copied from real enrollments), then measures against that store and an empty one:
#   - enrollment throughput and server CPU per enrollment (bench/scep_load), A/B interleaved
#   - scepctl cert list --subject, cert show --serial, request list --status pending,
#     crl generate, and GetCert over HTTP (the scep client), each timed
#   - EXPLAIN QUERY PLAN of the queries an enrollment, GetCert, the CRL and the metrics run
# The filled database is about 3.2 GB for 10^6 rows; with enough memory it stays in the page
# cache, so the figures are the queries' cost, not the disk's.
# BENCH_STORE_BACKEND=postgresql: the same against a throwaway PostgreSQL cluster on a Unix
# socket (scripts/pg-cluster.sh), one database per store.
# Knobs: BENCH_STORE_ROWS, BENCH_STORE_ROUNDS (A/B rounds, default 2), BENCH_STORE_COUNT
# (enrollments per window, default 600 at 4 connections), BUILD, SCEPD.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
rows=${BENCH_STORE_ROWS:-1000000}
rounds=${BENCH_STORE_ROUNDS:-2}
count=${BENCH_STORE_COUNT:-600}
backend=${BENCH_STORE_BACKEND:-sqlite}
root=$(mktemp -d /tmp/scepd-bench-store.XXXXXX)
# scepd and scepctl run as nobody when this runs as root (bench/common.sh).
if [ "$(id -u)" = 0 ]; then chown nobody: "$root"; fi
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"
pg_dir=
cleanup() {
  stop_scepd
  if [ -n "$pg_dir" ]; then "$top/scripts/pg-cluster.sh" stop "$pg_dir" >/dev/null 2>&1 || true; fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $root" >&2; else rm -rf "$root"; fi
}
trap cleanup EXIT
path=/scep/bench/pkiclient.exe
load_before=$(cut -d" " -f1-3 /proc/loadavg)

# Seconds (wall) a command takes, its output discarded.
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || echo "failed: $*" >&2
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

enroll() { # LEVELS COUNTS: one scep_load run against the running scepd; prints its table row
  BENCH_CAPS_SECONDS=0 BENCH_SERVER_PID=$scepd_pid "$build/scep_load" 127.0.0.1 "$port" "$path" \
    "$work/state/cas/bench/ca.pem" "$bench_secret" 0 "$1" "$2" 60 2>/dev/null | grep '^| [0-9]'
}

declare -A url
if [ "$backend" = postgresql ]; then
  pg_dir=$root/pg
  "$top/scripts/pg-cluster.sh" start "$pg_dir" >/dev/null
  for name in empty full; do url[$name]=$("$top/scripts/pg-cluster.sh" newdb "$pg_dir" | tail -1); done
else
  for name in empty full; do url[$name]=sqlite:$root/$name/scepd.db; done
fi
# One SQL statement's text result on a store.
sql() {
  if [ "$backend" = postgresql ]; then psql -X -q -A -t -d "${url[$1]}" -c "$2"
  else sqlite3 "$root/$1/scepd.db" "$2"; fi
}
# Each store's scepd uses its database (bench/common.sh reads BENCH_DATABASE).
use_store() {
  work=$root/$1
  BENCH_DATABASE=${url[$1]}
}

# Two stores with their own CA: "empty" and "full". Both get a few real enrollments, whose
# rows are the templates of the filled ones.
for name in empty full; do
  use_store "$name"
  mkdir -p "$work"
  start_scepd
  enroll 1 20 >/dev/null
  stop_scepd
done
use_store full
db=$work/scepd.db
t0=$(date +%s)
if [ "$backend" = postgresql ]; then
  psql -X -q -v ON_ERROR_STOP=1 -d "${url[full]}" >/dev/null <<SQL
BEGIN;
CREATE TEMP TABLE tpl AS SELECT c.der AS der, r.csr_der AS csr, r.signer_cert_der AS signer,
  c.not_before AS nb, c.not_after AS na FROM certificates c JOIN requests r
  ON r.cert_serial = c.serial LIMIT 1;
INSERT INTO certificates (ca_name, serial, subject, issuer, not_before, not_after, der, status,
  revoked_at, revocation_reason, username, transaction_id, created_at)
SELECT 'bench', upper(md5(random()::text || i)), 'CN=fill-' || i, 'CN=Bench CA', tpl.nb - i,
  tpl.na - i, tpl.der, CASE WHEN i % 100 = 0 THEN 'REVOKED' ELSE 'VALID' END,
  CASE WHEN i % 100 = 0 THEN tpl.nb ELSE NULL END, CASE WHEN i % 100 = 0 THEN 1 ELSE NULL END,
  'fill-' || i, 'FILL-' || i, tpl.nb - i
FROM generate_series(1, $rows) AS i, tpl;
INSERT INTO requests (alias, transaction_id, message_type, csr_der, signer_cert_der,
  public_key_sha256, status, client_addr, ca_name, cert_serial, created_at, updated_at)
SELECT 'bench', c.transaction_id, 19, tpl.csr, tpl.signer, sha256(c.serial::bytea), 'ISSUED',
  '127.0.0.1', 'bench', c.serial, c.created_at, c.created_at
FROM certificates c, tpl WHERE c.username LIKE 'fill-%';
INSERT INTO end_entities (username, password_hash, subject_dn, status, profile, ca_name,
  created_at, updated_at, alias, ra_alias, failed_codes)
SELECT c.username, '!', c.subject, CASE WHEN c.status = 'REVOKED' THEN 'REVOKED' ELSE 'GENERATED' END,
  'ENDUSER', 'bench', c.created_at, c.created_at, 'bench', 'bench', 0
FROM certificates c WHERE c.username LIKE 'fill-%';
COMMIT;
VACUUM ANALYZE;
SQL
  size_mib=$(sql full "SELECT pg_database_size(current_database()) / 1048576")
else
sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
BEGIN;
CREATE TEMP TABLE tpl AS SELECT c.der AS der, r.csr_der AS csr, r.signer_cert_der AS signer,
  c.not_before AS nb, c.not_after AS na FROM certificates c JOIN requests r
  ON r.cert_serial = c.serial LIMIT 1;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO certificates (ca_name, serial, subject, issuer, not_before, not_after, der, status,
  revoked_at, revocation_reason, username, transaction_id, created_at)
SELECT 'bench', upper(hex(randomblob(16))), 'CN=fill-' || i, 'CN=Bench CA', tpl.nb - i,
  tpl.na - i, tpl.der, CASE WHEN i % 100 = 0 THEN 'REVOKED' ELSE 'VALID' END,
  CASE WHEN i % 100 = 0 THEN tpl.nb ELSE NULL END, CASE WHEN i % 100 = 0 THEN 1 ELSE NULL END,
  'fill-' || i, 'FILL-' || i, tpl.nb - i
FROM n, tpl;
INSERT INTO requests (alias, transaction_id, message_type, csr_der, signer_cert_der,
  public_key_sha256, status, client_addr, ca_name, cert_serial, created_at, updated_at)
SELECT 'bench', c.transaction_id, 19, tpl.csr, tpl.signer, randomblob(32), 'ISSUED', '127.0.0.1',
  'bench', c.serial, c.created_at, c.created_at
FROM certificates c, tpl WHERE c.username LIKE 'fill-%';
INSERT INTO end_entities (username, password_hash, subject_dn, status, profile, ca_name,
  created_at, updated_at, alias, ra_alias, failed_codes)
SELECT c.username, '!', c.subject, CASE WHEN c.status = 'REVOKED' THEN 'REVOKED' ELSE 'GENERATED' END,
  'ENDUSER', 'bench', c.created_at, c.created_at, 'bench', 'bench', 0
FROM certificates c WHERE c.username LIKE 'fill-%';
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  size_mib=$(du -m "$db" | cut -f1)
fi
if [ "$(id -u)" = 0 ]; then chown -R nobody: "$root"; fi
fill_seconds=$(($(date +%s) - t0))

echo "$(date -u +%Y-%m-%d), $(nproc) cores; load average before the run: $load_before."
echo "$backend; full store: $rows certificates (1% revoked), $rows requests, $rows end entities," \
  "$size_mib MiB, filled in $fill_seconds s; the empty store has 20 of each."
echo
echo "### Enrollments, 4 connections, $count a window, interleaved"
echo
echo "| round | store | enrollments | enrollments/s | p50 ms | p99 ms | failed | server CPU ms per enrollment |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq 1 "$rounds"); do
  for name in empty full; do
    use_store "$name"
    start_scepd
    enroll 4 "$count" | awk -F'|' -v r="$r" -v n="$name" \
      '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r, n, $3, $4, $6, $7, $8, $10 }'
    stop_scepd
  done
done

echo
echo "### Single operations (wall seconds; best of 3)"
echo
best() { # best of three runs of a command
  local b=999 t
  for _ in 1 2 3; do
    t=$(timed "$@")
    b=$(awk -v a="$b" -v t="$t" 'BEGIN { print (t < a ? t : a) }')
  done
  echo "$b"
}
echo "| operation | empty store | full store |"
echo "|---|---|---|"
declare -A res
for name in empty full; do
  use_store "$name"
  ctl=("${as_user[@]}" "$build/scepctl" --config "$work/scepd.conf")
  serial=$(sql "$name" "SELECT serial FROM certificates WHERE username NOT LIKE 'fill-%' ORDER BY id DESC LIMIT 1")
  subject=$(sql "$name" "SELECT subject FROM certificates WHERE username NOT LIKE 'fill-%' ORDER BY id DESC LIMIT 1")
  res[$name,list]=$(best "${ctl[@]}" cert list --subject "$subject")
  res[$name,show]=$(best "${ctl[@]}" cert show --serial "$serial")
  res[$name,pending]=$(best "${ctl[@]}" request list --status pending)
  res[$name,crl]=$(best "${ctl[@]}" crl generate --ca bench --out "$work/crl.der")
  # GetCert over HTTP: the scep client, with a certificate it enrolled for itself.
  start_scepd
  url=http://127.0.0.1:$port$path
  "$build/scep" enroll -u "$url" -c "$work/state/cas/bench/ca.pem" -k "$work/client.key" \
    -l "$work/client.pem" --subject "CN=getcert-client" --challenge "$bench_secret" >/dev/null 2>&1 || true
  res[$name,getcert]=$(best "$build/scep" getcert -u "$url" -c "$work/state/cas/bench/ca.pem" \
    -k "$work/client.key" -l "$work/client.pem" --serial "$serial" -w "$work/got.pem")
  stop_scepd
done
echo "| scepctl cert list --subject (one match) | ${res[empty,list]} | ${res[full,list]} |"
echo "| scepctl cert show --serial | ${res[empty,show]} | ${res[full,show]} |"
echo "| scepctl request list --status pending | ${res[empty,pending]} | ${res[full,pending]} |"
echo "| scepctl crl generate ($((rows / 100)) revoked in the full store) | ${res[empty,crl]} | ${res[full,crl]} |"
echo "| GetCert (scep getcert, whole client run) | ${res[empty,getcert]} | ${res[full,getcert]} |"

echo
echo "### Query plans (full store)"
echo
echo '```'
while IFS= read -r q; do
  [ -z "$q" ] && continue
  echo "$q"
  if [ "$backend" = postgresql ]; then sql full "EXPLAIN $q" | sed 's/^/    /'
  else sql full "EXPLAIN QUERY PLAN $q" | sed 's/^/    /'; fi
done <<'QUERIES'
SELECT * FROM requests WHERE alias = 'bench' AND transaction_id = 'FILL-5'
SELECT serial FROM certificates WHERE username = 'fill-5' AND status = 'VALID' AND not_after > 0 LIMIT 1
SELECT 1 FROM end_entities WHERE username = 'fill-5' AND status IN ('NEW', 'GENERATED')
SELECT * FROM certificates WHERE ca_name = 'bench' AND serial = '00'
SELECT serial, revoked_at, revocation_reason FROM certificates WHERE ca_name = 'bench' AND status = 'REVOKED' ORDER BY id
SELECT count(*) FROM certificates WHERE ca_name = 'bench' AND status = 'REVOKED'
SELECT count(*) FROM requests WHERE status = 'PENDING' AND ('held' IS NULL OR reason = 'held')
SELECT * FROM requests WHERE status = 'PENDING' ORDER BY id LIMIT 100
SELECT * FROM certificates WHERE subject = 'CN=fill-5' AND ('bench' IS NULL OR ca_name = 'bench') AND (NULL IS NULL OR status = NULL) ORDER BY id LIMIT 100 OFFSET 0
SELECT id FROM requests WHERE status = 'PENDING' AND reason = 'x' AND decided_username = 'u' AND id <> 1 AND created_at >= 0 LIMIT 1
SELECT * FROM certificates WHERE ('bench' IS NULL OR ca_name = 'bench') AND (NULL IS NULL OR status = NULL) ORDER BY id LIMIT 100 OFFSET 0
SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1
QUERIES
echo '```'
