#!/usr/bin/env bash
# Differential check: the same zone files served by flashdns (already
# running, at $FLASHDNS) and by Knot DNS (started here, at $KNOT); every
# query in tests/dns/queries.txt asked of both with `dig +norec`, the
# answers compared section by section (order-insensitive), then both AXFRs
# normalised with `named-compilezone` and compared.
#
#   FLASHDNS=127.0.116.1 ZONES=<dir with the zone files> KNOT=127.0.117.1 dns-vs-knot.sh
set -euo pipefail

: "${FLASHDNS:?the flashdns address}" "${ZONES:?the zone directory}" "${KNOT:?the address to start Knot on}"
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
{
    printf 'server:\n    listen: %s@%s\n    rundir: %s\n' "$KNOT" "$PORT" "$work"
    printf 'database:\n    storage: %s\n' "$work"
    printf 'log:\n  - target: stderr\n    any: warning\n'
    printf 'acl:\n  - id: transfer\n    address: 127.0.0.1\n    action: transfer\n'
    printf 'template:\n  - id: default\n    storage: %s\n    zonefile-sync: -1\n    journal-content: none\n' "$ZONES"
    printf 'zone:\n'
    for zone in "${zones[@]}"; do
        printf '  - domain: %s\n    file: %s.zone\n    acl: transfer\n' "$zone" "$zone"
    done
} > "$work/knot.conf"
knotd -c "$work/knot.conf" 2> "$work/knot.log" &
knot_pid=$!
for _ in $(seq 50); do
    dig @"$KNOT" -p "$PORT" +norec +short +time=1 +tries=1 example.com SOA > /dev/null 2>&1 && break
    sleep 0.1
done

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
    ' | sort
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
    ask "$FLASHDNS" "$@" > "$work/ours"
    ask "$KNOT" "$@" > "$work/knot"
    if ! diff -u "$work/knot" "$work/ours" > "$work/diff"; then
        failures=$((failures + 1))
        echo "DIFFERS: dig $line (--- knot, +++ flashdns)"
        sed -n '3,$p' "$work/diff"
    fi
done < "$queries"
echo "$count queries asked of both, $failures differ"

for zone in "${zones[@]}"; do
    for server in "$FLASHDNS" "$KNOT"; do
        dig @"$server" -p "$PORT" -b 127.0.0.1 +nocmd +nostats +nocomments "$zone" AXFR > "$work/axfr"
        named-compilezone -q -i none -s full -o "$work/$zone.$server" "$zone" "$work/axfr"
    done
    if ! diff -u "$work/$zone.$KNOT" "$work/$zone.$FLASHDNS"; then
        failures=$((failures + 1))
        echo "DIFFERS: AXFR $zone"
    else
        echo "AXFR $zone: identical after named-compilezone ($(wc -l < "$work/$zone.$KNOT") records)"
    fi
done

if [ -s "$work/knot.log" ]; then
    echo "knot's log:"; cat "$work/knot.log"
fi
[ "$failures" -eq 0 ]
