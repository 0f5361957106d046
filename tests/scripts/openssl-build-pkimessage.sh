#!/bin/sh
# Builds a SCEP pkiMessage (RFC 8894 §3.2) with the openssl command line only,
# so that our parser is tested against bytes our library did not write.
#
# usage: openssl-build-pkimessage.sh OUT TYPE DIGEST CIPHER PADDING [DEFECT]
#   OUT      output file (DER); its directory must hold csr.der (the content),
#            ca.pem (the recipient), signer.pem and signer.key (the signer)
#   TYPE     messageType number, e.g. 19 for PKCSReq
#   DIGEST   sha1 | sha256 | sha384 | sha512
#   CIPHER   an `openssl cms -encrypt` cipher option without the dash: aes256, des3,
#            aes128, camellia256...
#   PADDING  pkcs1 | oaep (RSA key transport)
#   DEFECT   none (default) | mtype-utf8 | no-tid | nonce4 | bad-digest
# Environment: SCEP_TID (transactionID), SCEP_NONCE (senderNonce, 32 hex digits).
#
# How: `openssl cms -encrypt` makes the EnvelopedData; the signed attributes
# are an `openssl asn1parse -genconf` SET, signed with `openssl dgst -sign`;
# a second -genconf assembles ContentInfo/SignedData. Raw DER (certificate,
# envelope) enters genconf as `IMPLICIT:16U,FORMAT:HEX,OCTETSTRING:<body>`:
# an OCTET STRING retagged as a universal SEQUENCE, which genconf encodes
# constructed, so the bytes are the original certificate again.
set -eu

out=$1 type=$2 digest=$3 cipher=$4 padding=$5 defect=${6:-none}
dir=$(dirname "$out")
tid=${SCEP_TID:-OPENSSL-CLI-TRANSACTION-0001}
nonce=${SCEP_NONCE:-00112233445566778899AABBCCDDEEFF}
work=$(mktemp -d "$dir/gen.XXXXXX")
trap 'rm -rf "$work"' EXIT

hex() { xxd -p "$1" | tr -d '\n'; }
# The body (contents octets) of the DER element in $1, as hex.
body_hex() {
    hl=$(openssl asn1parse -inform DER -in "$1" | head -n 1 | sed -n 's/.*hl=\([0-9]*\).*/\1/p')
    tail -c +$((hl + 1)) "$1" | xxd -p | tr -d '\n'
}

# 1. pkcsPKIEnvelope (RFC 8894 §3.2.2).
keyopt=""
[ "$padding" = oaep ] && keyopt="-keyopt rsa_padding_mode:oaep"
# shellcheck disable=SC2086
openssl cms -encrypt -binary -outform DER "-$cipher" -in "$dir/csr.der" -out "$work/env.der" \
    -recip "$dir/ca.pem" $keyopt

# 2. Signed attributes (RFC 8894 §3.2.1; RFC 5652 §11 contentType, messageDigest).
if [ "$defect" = bad-digest ]; then
    printf 'not the envelope' > "$work/other"
    md=$(openssl dgst "-$digest" -binary "$work/other" | xxd -p | tr -d '\n')
else
    md=$(openssl dgst "-$digest" -binary "$work/env.der" | xxd -p | tr -d '\n')
fi
mtype="PRINTABLESTRING:$type"
[ "$defect" = mtype-utf8 ] && mtype="UTF8String:$type"
[ "$defect" = nonce4 ] && nonce=$(printf '%s' "$nonce" | cut -c1-8)
{
    echo "asn1=SET:attrs"
    echo "[attrs]"
    echo "ct=SEQUENCE:ct"
    echo "md=SEQUENCE:md"
    echo "mt=SEQUENCE:mt"
    [ "$defect" = no-tid ] || echo "tid=SEQUENCE:tid"
    echo "sn=SEQUENCE:sn"
    echo "[ct]"
    echo "type=OID:contentType"
    echo "value=SET:ct_v"
    echo "[ct_v]"
    echo "v=OID:pkcs7-data"
    echo "[md]"
    echo "type=OID:messageDigest"
    echo "value=SET:md_v"
    echo "[md_v]"
    echo "v=FORMAT:HEX,OCTETSTRING:$md"
    echo "[mt]"
    echo "type=OID:2.16.840.1.113733.1.9.2"
    echo "value=SET:mt_v"
    echo "[mt_v]"
    echo "v=$mtype"
    echo "[tid]"
    echo "type=OID:2.16.840.1.113733.1.9.7"
    echo "value=SET:tid_v"
    echo "[tid_v]"
    echo "v=PRINTABLESTRING:$tid"
    echo "[sn]"
    echo "type=OID:2.16.840.1.113733.1.9.5"
    echo "value=SET:sn_v"
    echo "[sn_v]"
    echo "v=FORMAT:HEX,OCTETSTRING:$nonce"
} > "$work/attrs.cnf"

# 3. The signature covers the attributes as an explicit SET (tag 0x31), RFC 5652 §5.4.
openssl asn1parse -genconf "$work/attrs.cnf" -out "$work/attrs.der" > /dev/null
openssl dgst "-$digest" -sign "$dir/signer.key" -out "$work/sig.bin" "$work/attrs.der"

# 4. ContentInfo / SignedData, reusing the [attrs] section under IMPLICIT [0].
openssl x509 -in "$dir/signer.pem" -outform DER -out "$work/signer.der"
serial=$(openssl x509 -in "$dir/signer.pem" -noout -serial | sed 's/^serial=//')
# The issuer Name is the fourth element of the TBSCertificate (after [0] version,
# serialNumber and signature); its offset and lengths come from asn1parse.
issuer=$(openssl asn1parse -inform DER -in "$work/signer.der" | grep ':d=2 ' | sed -n 4p)
off=$(printf '%s' "$issuer" | sed 's/^ *\([0-9]*\):.*/\1/')
hl=$(printf '%s' "$issuer" | sed 's/.*hl=\([0-9]*\).*/\1/')
len=$(printf '%s' "$issuer" | sed 's/.* l= *\([0-9]*\).*/\1/')
issuer_hex=$(tail -c +$((off + hl + 1)) "$work/signer.der" | head -c "$len" | xxd -p | tr -d '\n')
if openssl x509 -in "$dir/signer.pem" -noout -text | grep -q 'Public Key Algorithm: rsaEncryption'; then
    sigalg="rsaEncryption"
    sigparam="p=NULL"
else
    case $digest in
        sha1) sigalg=ecdsa-with-SHA1 ;;
        sha256) sigalg=ecdsa-with-SHA256 ;;
        sha384) sigalg=ecdsa-with-SHA384 ;;
        sha512) sigalg=ecdsa-with-SHA512 ;;
    esac
    sigparam=""
fi
{
    echo "asn1=SEQUENCE:ci"
    echo "[ci]"
    echo "type=OID:pkcs7-signedData"
    echo "content=EXPLICIT:0,SEQUENCE:sd"
    echo "[sd]"
    echo "version=INTEGER:1"
    echo "digests=SET:digests"
    echo "encap=SEQUENCE:encap"
    echo "certs=IMPLICIT:0,SET:certs"
    echo "signers=SET:signers"
    echo "[digests]"
    echo "d=SEQUENCE:digest_alg"
    echo "[digest_alg]"
    echo "a=OID:$digest"
    echo "p=NULL"
    echo "[encap]"
    echo "type=OID:pkcs7-data"
    echo "content=EXPLICIT:0,FORMAT:HEX,OCTETSTRING:$(hex "$work/env.der")"
    echo "[certs]"
    echo "c=IMPLICIT:16U,FORMAT:HEX,OCTETSTRING:$(body_hex "$work/signer.der")"
    echo "[signers]"
    echo "si=SEQUENCE:si"
    echo "[si]"
    echo "version=INTEGER:1"
    echo "sid=SEQUENCE:sid"
    echo "digest=SEQUENCE:digest_alg"
    echo "signed=IMPLICIT:0,SET:attrs"
    echo "sigalg=SEQUENCE:sig_alg"
    echo "sig=FORMAT:HEX,OCTETSTRING:$(hex "$work/sig.bin")"
    echo "[sid]"
    echo "issuer=IMPLICIT:16U,FORMAT:HEX,OCTETSTRING:$issuer_hex"
    echo "serial=INTEGER:0x$serial"
    echo "[sig_alg]"
    echo "a=OID:$sigalg"
    [ -n "$sigparam" ] && echo "$sigparam"
    sed -n '/^\[attrs\]/,$p' "$work/attrs.cnf"
} > "$work/msg.cnf"
openssl asn1parse -genconf "$work/msg.cnf" -out "$out" > /dev/null
