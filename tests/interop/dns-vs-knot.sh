#!/usr/bin/env bash
# Differential check: the same zone files served by flashdns (already
# running, at $FLASHDNS) and by Knot DNS (started here, at $KNOT), both
# zones DNSSEC-signed with flashdns's keys (imported into Knot). Every
# query in tests/dns/queries.txt is asked of both with `dig +norec`, and
# again with `+dnssec`; the answers are compared section by section
# (order-insensitive; an RRSIG's times and signature bytes are masked, the
# rest of it compared). Then both AXFRs are normalised with
# `named-compilezone` and compared the same way, flashdns's signed zones
# are checked whole by `dnssec-verify`, and answers are validated by
# `delv` from the zone's DNSKEY as trust anchor.
#
#   FLASHDNS=127.0.116.1 ZONES=<dir with the zone files> \
#   KEYS=<flashdns's dnssec state dir> KNOT=127.0.117.1 dns-vs-knot.sh
set -euo pipefail

: "${FLASHDNS:?the flashdns address}" "${ZONES:?the zone directory}" "${KNOT:?the address to start Knot on}"
: "${KEYS:?the directory of the zone keys flashdns made}"
PORT="${PORT:-5300}"
here="$(cd "$(dirname "$0")" && pwd)"
queries="$here/../dns/queries.txt"
work="$(mktemp -d)"
knot_pid=""
cleanup() {
    [ -n "$knot_pid" ] && kill "$knot_pid" 2>/dev/null && wait "$knot_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

zones=(example.com example.net)
# Each zone's algorithm in Knot's terms: the deployment's choice.
declare -A algorithm=([example.com]=ed25519 [example.net]=ecdsap256sha256)
{
    printf 'server:\n    listen: %s@%s\n    rundir: %s\n' "$KNOT" "$PORT" "$work"
    printf 'database:\n    storage: %s\n' "$work"
    printf 'log:\n  - target: stderr\n    any: warning\n'
    printf 'acl:\n  - id: transfer\n    address: 127.0.0.1\n    action: transfer\n'
    # Knot signs with the imported key only: one CSK, no rollovers, no CDS.
    printf 'policy:\n'
    for alg in ed25519 ecdsap256sha256; do
        printf '  - id: %s\n    manual: on\n    single-type-signing: on\n    algorithm: %s\n    cds-cdnskey-publish: none\n' "$alg" "$alg"
    done
    printf 'template:\n  - id: default\n    storage: %s\n    zonefile-sync: -1\n    journal-content: none\n' "$ZONES"
    printf 'zone:\n'
    for zone in "${zones[@]}"; do
        printf '  - domain: %s\n    file: %s.zone\n    acl: transfer\n' "$zone" "$zone"
        printf '    dnssec-signing: on\n    dnssec-policy: %s\n' "${algorithm[$zone]}"
    done
} > "$work/knot.conf"
for zone in "${zones[@]}"; do
    keymgr -c "$work/knot.conf" "$zone." import-pem "$KEYS/$zone.pem" ksk=yes zsk=yes > /dev/null
done
knotd -c "$work/knot.conf" 2> "$work/knot.log" &
knot_pid=$!
for _ in $(seq 50); do
    dig @"$KNOT" -p "$PORT" +norec +short +time=1 +tries=1 example.com SOA > /dev/null 2>&1 && break
    sleep 0.1
done

# Masks what differs between two correct signers: an RRSIG's expiration,
# inception and signature (type covered, algorithm, labels, original TTL,
# key tag and signer stay compared). Reads zone-file lines.
mask_rrsig() {
    awk '{
        for (i = 1; i < NF; i++) if ($i == "IN") break
        if ($(i + 1) == "RRSIG") { i++; $(i + 5) = "EXP"; $(i + 6) = "INC"; NF = i + 8; $(i + 9) = "SIG" }
        print
    }'
}

# One dig answer as comparable lines: status and flags, then each record
# prefixed with its section, sorted; the query id, OPT options (Knot adds
# an EDE to REFUSED) and timings dropped.
normalise() {
    awk '
        /^;; ->>HEADER<<-/ { sub(/, id: [0-9]+/, ""); print "header " $0; next }
        /^;; flags:/ { print "flags " $0; next }
        /^; EDNS:/ { print "edns " $0; next }
        /^;; [A-Z]+ SECTION:/ { section = $2; next }
        /^;/ || /^$/ { next }
        section != "" && section != "QUESTION" && section != "OPT" {
            gsub(/[ \t]+/, " "); print section " " $0
        }
    ' | mask_rrsig | sort
}

ask() { # server, then dig arguments
    local server="$1"; shift
    dig @"$server" -p "$PORT" +norec +nocmd +nostats +time=2 +tries=1 "$@" 2>&1 | normalise
}

failures=0
count=0
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    # shellcheck disable=SC2086
    set -- $line
    count=$((count + 1))
    for dnssec in +nodnssec +dnssec; do
        ask "$FLASHDNS" "$dnssec" "$@" > "$work/ours"
        ask "$KNOT" "$dnssec" "$@" > "$work/knot"
        # Two answers dig cannot read would compare equal: each must parse.
        if ! grep -q '^header ' "$work/ours" || ! grep -q '^header ' "$work/knot"; then
            failures=$((failures + 1))
            echo "NO ANSWER dig could read: dig $dnssec $line"
            dig @"$FLASHDNS" -p "$PORT" +norec "$dnssec" "$@" 2>&1 | head -3
        elif ! diff -u "$work/knot" "$work/ours" > "$work/diff"; then
            failures=$((failures + 1))
            echo "DIFFERS: dig $dnssec $line (--- knot, +++ flashdns)"
            sed -n '3,$p' "$work/diff"
        fi
    done
done < "$queries"
echo "$count queries asked of both, with and without +dnssec, $failures differ"

for zone in "${zones[@]}"; do
    for server in "$FLASHDNS" "$KNOT"; do
        dig @"$server" -p "$PORT" -b 127.0.0.1 +nocmd +nostats +nocomments "$zone" AXFR > "$work/axfr"
        # (signed zones get `; resign=` comments from the signatures' times)
        named-compilezone -q -i none -s full -o - "$zone" "$work/axfr" | grep -v '^;' | mask_rrsig > "$work/$zone.$server"
    done
    if ! diff -u "$work/$zone.$KNOT" "$work/$zone.$FLASHDNS"; then
        failures=$((failures + 1))
        echo "DIFFERS: AXFR $zone"
    else
        echo "AXFR $zone: identical after named-compilezone ($(wc -l < "$work/$zone.$KNOT") records)"
    fi
done

# flashdns's signed zones, whole: every RRset signed, the NSEC chain
# complete (-z: one combined key signs everything).
for zone in "${zones[@]}"; do
    dig @"$FLASHDNS" -p "$PORT" -b 127.0.0.1 +nocmd +nostats +nocomments "$zone" AXFR > "$work/axfr"
    if dnssec-verify -q -z -o "$zone" "$work/axfr" > "$work/verify" 2>&1; then
        echo "dnssec-verify $zone: fully signed"
    else
        failures=$((failures + 1))
        echo "DNSSEC INVALID: $zone"; cat "$work/verify"
    fi
done

# Answers validated by BIND's validator, the zone's DNSKEY as trust anchor:
# positive, wildcard, alias, NXDOMAIN, NODATA, empty non-terminal, wildcard
# NODATA and the insecure delegation's missing DS.
validated=0
while read -r zone name rtype expect; do
    dig @"$FLASHDNS" -p "$PORT" +short "$zone" DNSKEY | awk -v zone="$zone." '
        BEGIN { print "trust-anchors {" }
        { key = ""; for (i = 4; i <= NF; i++) key = key $i
          printf "  %s static-key %s %s %s \"%s\";\n", zone, $1, $2, $3, key }
        END { print "};" }' > "$work/anchor"
    delv @"$FLASHDNS" -p "$PORT" -a "$work/anchor" +root="$zone" "$name" "$rtype" > "$work/delv" 2>&1 || true
    if grep -q "^; $expect" "$work/delv"; then
        validated=$((validated + 1))
    else
        failures=$((failures + 1))
        echo "NOT VALIDATED: delv $name $rtype (expected \"$expect\")"; cat "$work/delv"
    fi
done <<'CHECKS'
example.com www.example.com A fully validated
example.com example.com MX fully validated
example.com x.apps.example.com TXT fully validated
example.com chain.example.com A fully validated
example.com Mixed.Case.example.com A fully validated
example.com nope.example.com A negative response, fully validated
example.com www.example.com MX negative response, fully validated
example.com a.b.example.com A negative response, fully validated
example.com x.apps.example.com MX negative response, fully validated
example.com sub.example.com DS negative response, fully validated
example.com example.com DNSKEY fully validated
example.net www.example.net A fully validated
example.net nope.example.net AAAA negative response, fully validated
CHECKS
echo "delv: $validated answers validated"

if [ -s "$work/knot.log" ]; then
    echo "knot's log:"; cat "$work/knot.log"
fi
[ "$failures" -eq 0 ]
