#!/usr/bin/env bash
# Drives chainfire with Debian's etcdctl (package etcd-client) and checks
# every answer. Usage: etcdctl.sh host:port[,host:port...]
# Run by tests/tests/chainfire.rs against `deploy-chainfire-cluster up`.
set -euo pipefail
export ETCDCTL_API=3
endpoints="$1"
IFS=, read -r -a each <<< "$endpoints"

ctl() { etcdctl --endpoints "$endpoints" --command-timeout=10s "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {
    local want="$1"; shift
    local got
    got="$("$@" 2>&1)" || fail "$* exited non-zero: $got"
    [ "$got" = "$want" ] || fail "$*: expected [$want], got [$got]"
    echo "ok: $*"
}

# A clean slate, in case the cluster has served this script before.
ctl del --prefix interop/ > /dev/null

# put / get / del
expect "OK" ctl put interop/a 1
expect "OK" ctl put interop/b 2
expect $'interop/a\n1' ctl get interop/a
expect $'interop/a\n1\ninterop/b\n2' ctl get --prefix interop/
count=$(ctl get --prefix interop/ --limit=1 --write-out=fields | grep '^"Count"' | awk '{print $3}')
[ "$count" = "2" ] || fail "count with --limit=1: expected 2, got [$count]"
echo "ok: get --limit reports the full count"
expect "interop/b" ctl get --prefix interop/ --keys-only --limit=1 --sort-by=KEY --order=DESCEND
expect "1" ctl del interop/a
expect "" ctl get interop/a

# every member answers, and sees the same data
for e in "${each[@]}"; do
    expect $'interop/b\n2' etcdctl --endpoints "$e" get interop/b
done

# txn: compare on value, both branches
txn_ok=$(printf 'value("interop/b") = "2"\n\nput interop/c yes\n\nput interop/c no\n\n' | ctl txn)
[ "$txn_ok" = $'SUCCESS\n\nOK' ] || fail "txn success branch: [$txn_ok]"
txn_no=$(printf 'value("interop/b") = "9"\n\nput interop/c yes\n\nput interop/c no\n\n' | ctl txn)
[ "$txn_no" = $'FAILURE\n\nOK' ] || fail "txn failure branch: [$txn_no]"
expect $'interop/c\nno' ctl get interop/c
echo "ok: txn"

# watch: a background watcher sees a put and a delete in order
watch_out=$(mktemp)
# etcdctl itself in the background (not through `ctl`), so `kill` reaches it.
etcdctl --endpoints "$endpoints" watch --prefix interop/w > "$watch_out" &
watcher=$!
sleep 1
ctl put interop/w/1 hello > /dev/null
ctl del interop/w/1 > /dev/null
for _ in $(seq 50); do
    [ "$(grep -c . "$watch_out")" -ge 5 ] && break
    sleep 0.1
done
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
want=$'PUT\ninterop/w/1\nhello\nDELETE\ninterop/w/1'
got=$(head -5 "$watch_out")
rm -f "$watch_out"
[ "$got" = "$want" ] || fail "watch: expected [$want], got [$got]"
echo "ok: watch"

# lease: grant, attach, time-to-live with keys, keep-alive, list, revoke
lease=$(ctl lease grant 30 | awk '{print $2}')
[ -n "$lease" ] || fail "lease grant printed no id"
expect "OK" ctl put --lease="$lease" interop/leased yes
ttl=$(ctl lease timetolive "$lease" --keys)
case "$ttl" in
    *"granted with TTL(30s)"*"attached keys([interop/leased])"*) echo "ok: lease timetolive" ;;
    *) fail "lease timetolive: [$ttl]" ;;
esac
ctl lease keep-alive --once "$lease" | grep -q "keepalived with TTL(30)" || fail "lease keep-alive --once"
echo "ok: lease keep-alive"
ctl lease list | grep -q "$lease" || fail "lease list does not show $lease"
echo "ok: lease list"
ctl lease revoke "$lease" | grep -q "revoked" || fail "lease revoke"
expect "" ctl get interop/leased

# cluster and maintenance
members=$(ctl member list | wc -l)
[ "$members" = "${#each[@]}" ] || fail "member list: $members members, expected ${#each[@]}"
echo "ok: member list"
leaders=$(ctl endpoint status -w fields | grep -c '"Leader"')
[ "$leaders" = "${#each[@]}" ] || fail "endpoint status answered for $leaders endpoints"
ctl endpoint status -w table
ctl endpoint health
echo "ok: endpoint status"

# every member holds the same history (compared at one revision, once all
# have applied it)
rev=$(ctl get interop/b -w fields | grep '^"Revision"' | awk '{print $3}')
for _ in $(seq 50); do
    hashes=$(ctl endpoint hashkv --rev="$rev" | awk '{print $2}' | sort -u | wc -l)
    [ "$hashes" = "1" ] && break
    sleep 0.1
done
[ "$hashes" = "1" ] || fail "members disagree: $(ctl endpoint hashkv --rev="$rev")"
echo "ok: endpoint hashkv agrees on every member"
