#!/usr/bin/env bash
# Drives lightningstor with Debian's awscli and s3cmd and checks every
# answer. Usage: s3.sh http://host:port ACCESS_KEY_ID SECRET_KEY
# Run by tests/tests/lightningstor.rs against `deploy-lightningstor-single up`.
set -euo pipefail
endpoint="$1"
export AWS_ACCESS_KEY_ID="$2" AWS_SECRET_ACCESS_KEY="$3" AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# Debian's awscli, not whatever `aws` is first on PATH.
aws() { /usr/bin/aws --endpoint-url "$endpoint" "$@"; }

# ---- awscli: s3 ----
aws s3 mb s3://interop-cli > /dev/null
head -c 300000 /dev/urandom > "$work/blob"
aws s3 cp "$work/blob" s3://interop-cli/dir/blob > /dev/null
aws s3 ls s3://interop-cli/dir/ | grep -q " 300000 blob" || fail "aws s3 ls does not list dir/blob"
ok "aws s3 mb/cp/ls"
aws s3 cp s3://interop-cli/dir/blob "$work/back" > /dev/null
cmp -s "$work/blob" "$work/back" || fail "aws s3 cp down: bytes differ"
ok "aws s3 cp down is byte-identical"

# ---- awscli: s3api multipart ----
head -c $((6 * 1024 * 1024)) /dev/urandom > "$work/p1"
head -c 1000 /dev/urandom > "$work/p2"
upload=$(aws s3api create-multipart-upload --bucket interop-cli --key multi --query UploadId --output text)
e1=$(aws s3api upload-part --bucket interop-cli --key multi --upload-id "$upload" --part-number 1 --body "$work/p1" --query ETag --output text)
e2=$(aws s3api upload-part --bucket interop-cli --key multi --upload-id "$upload" --part-number 2 --body "$work/p2" --query ETag --output text)
cat > "$work/parts.json" <<JSON
{"Parts": [{"PartNumber": 1, "ETag": $e1}, {"PartNumber": 2, "ETag": $e2}]}
JSON
etag=$(aws s3api complete-multipart-upload --bucket interop-cli --key multi --upload-id "$upload" --multipart-upload "file://$work/parts.json" --query ETag --output text)
case "$etag" in *-2\"|*-2) ;; *) fail "multipart ETag [$etag] lacks -2" ;; esac
aws s3api get-object --bucket interop-cli --key multi "$work/multi" > /dev/null
cat "$work/p1" "$work/p2" | cmp -s - "$work/multi" || fail "multipart object differs"
ok "aws s3api create-multipart-upload/upload-part/complete-multipart-upload"

# ---- awscli: presign ----
url=$(aws s3 presign s3://interop-cli/dir/blob --expires-in 300)
python3 - "$url" "$work/blob" <<'PY' || fail "presigned GET"
import sys, urllib.request
body = urllib.request.urlopen(sys.argv[1]).read()
sys.exit(0 if body == open(sys.argv[2], 'rb').read() else 1)
PY
ok "aws s3 presign: GET through the URL"

# ---- s3cmd ----
hostport="${endpoint#http://}"
cat > "$work/s3cfg" <<CFG
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $hostport
host_bucket = $hostport
use_https = False
signature_v2 = False
bucket_location = us-east-1
CFG
s3c() { /usr/bin/s3cmd -c "$work/s3cfg" "$@"; }
s3c mb s3://interop-s3cmd > /dev/null
s3c put "$work/blob" s3://interop-s3cmd/blob > /dev/null
s3c ls s3://interop-s3cmd/ | grep -q "s3://interop-s3cmd/blob" || fail "s3cmd ls does not list blob"
s3c get s3://interop-s3cmd/blob "$work/s3cmd-back" > /dev/null
cmp -s "$work/blob" "$work/s3cmd-back" || fail "s3cmd get: bytes differ"
ok "s3cmd mb/put/ls/get"

# ---- rm, rb ----
s3c del s3://interop-s3cmd/blob > /dev/null
s3c rb s3://interop-s3cmd > /dev/null
aws s3 rm --recursive s3://interop-cli/ > /dev/null
aws s3 rb s3://interop-cli > /dev/null
aws s3 ls | grep -q interop && fail "buckets left after rb"
ok "s3cmd del/rb, aws s3 rm/rb"
echo "all interop checks passed"
