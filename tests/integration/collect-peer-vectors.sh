#!/usr/bin/env bash
# Copies the messages captured by try-peers-against-micromdm.sh WORKDIR into DEST
# (default tests/vectors/peers/micromdm) under stable names. See that folder's README.
set -euo pipefail
work=${1:?usage: $0 WORKDIR [DEST]}
dest=${2:-$(cd "$(dirname "$0")/../vectors/peers/micromdm" 2>/dev/null && pwd || echo tests/vectors/peers/micromdm)}
mkdir -p "$dest"
c=$work/capture
# first file in capture dir $1 matching operation $2 and suffix $3
pick() { ls "$c/$1"/*-"$2"-"$3" 2>/dev/null | head -1; }
cpy() { [ -n "$1" ] && [ -f "$1" ] && cp "$1" "$dest/$2"; }

cpy "$(pick curl GetCACaps resp.bin)" getcacaps.txt
cpy "$(pick curl GetCACaps resp.meta)" getcacaps.resp-headers.txt
cpy "$(pick scepclient GetCACert resp.bin)" ca.der
cpy "$(pick scepclient GetCACert resp.meta)" getcacert.resp-headers.txt
# scepserver stores the key 3DES-encrypted with an empty password; export it in the clear.
openssl rsa -in "$work/server/depot/ca.key" -passin pass: -traditional -out "$dest/ca.key.pem" 2>/dev/null

cpy "$(pick scepclient PKIOperation req.der)" scepclient-pkcsreq.der
cpy "$(pick scepclient PKIOperation req.meta)" scepclient-pkcsreq.req-headers.txt
cpy "$(pick scepclient PKIOperation resp.bin)" micromdm-certrep-success-scepclient.der
cpy "$(pick scepclient PKIOperation resp.meta)" micromdm-certrep.resp-headers.txt
cp "$work/scepclient/key.pem" "$dest/scepclient-key.pem"
cp "$work/scepclient/cert.pem" "$dest/scepclient-issued.pem"

cpy "$(pick scepclient-badpw PKIOperation req.der)" scepclient-pkcsreq-wrong-challenge.der
cpy "$(pick scepclient-badpw PKIOperation resp.bin)" micromdm-certrep-failure-badrequest.der
cp "$work/scepclient-badpw/key.pem" "$dest/scepclient-wrong-challenge-key.pem"

cpy "$(pick certmonger PKIOperation req.der)" certmonger-pkcsreq.der
cpy "$(pick certmonger PKIOperation req.meta)" certmonger-pkcsreq.req-get.txt
cpy "$(pick certmonger PKIOperation resp.bin)" micromdm-certrep-success-certmonger.der
cp "$work/certmonger/key.pem" "$dest/certmonger-key.pem"

cpy "$(pick strongswan-des3 PKIOperation req.der)" strongswan-pkcsreq-des3.der
cpy "$(pick strongswan-des3 PKIOperation req.meta)" strongswan-pkcsreq.req-headers.txt
cpy "$(pick strongswan-des3 PKIOperation resp.bin)" micromdm-certrep-success-strongswan-des3.der
cpy "$(pick strongswan-aes-sha384caps PKIOperation req.der)" strongswan-pkcsreq-aes.der
cp "$work/strongswan/key.pem" "$dest/strongswan-key.pem"
chmod 644 "$dest"/*
ls -l "$dest"
