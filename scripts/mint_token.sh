#!/usr/bin/env bash
# A development HS256 token for the oversync write path (claims sub, exp), signed with openssl.
#   scripts/mint_token.sh SUB [TTL_SECONDS=3600] [SECRET_FILE]   (else the secret in $OVERSYNC_JWT_SECRET)
# The secret is read from the file (trailing whitespace dropped, as the server does), never
# taken on the command line.
set -euo pipefail
sub="${1:?usage: $0 SUB [TTL_SECONDS] [SECRET_FILE]}"; ttl="${2:-3600}"; file="${3:-}"
if [ -n "$file" ]; then secret=$(sed -e 's/[[:space:]]*$//' "$file"); else secret="${OVERSYNC_JWT_SECRET:?set OVERSYNC_JWT_SECRET or give SECRET_FILE}"; fi
b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
sub_json=$(printf '%s' "$sub" | sed 's/\\/\\\\/g; s/"/\\"/g')
input="$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64).$(printf '{"sub":"%s","exp":%d}' "$sub_json" $(( $(date +%s) + ttl )) | b64)"
sig=$(printf '%s' "$input" | openssl dgst -sha256 -mac HMAC -macopt "key:$secret" -binary | b64)
echo "$input.$sig"
