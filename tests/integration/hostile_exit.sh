#!/usr/bin/env bash
# A guest that ends (port 0xf4) in the middle of the control plane's long operations, under the
# sanitized build (tests/guests/hostile/exit_on_input.asm ends when a byte reaches COM1, which
# this script sends through vmon's stdin at the chosen moment):
#   exit/migrate      while a migration to a target that never reads is active, without
#                     --net user (the sandbox's strictest filter; issue 10 finding 4: fails
#                     with SIGSYS until migrate_cleanup stops calling shutdown() there)
#   exit/migrate-net  the same with --net user
#   exit/snapshot     the byte sent together with a snapshot request (five times: the byte
#                     first, or the request 40 or 80 ms before it): the snapshot is whole and
#                     restores (its guest ends on the next byte), or it failed and left no file
#   exit/pause        sent while paused: nothing happens until resume, then the guest ends
# Each must end with the guest's status (99), remove its API socket and print no sanitizer
# report. Prints `ok NAME` / `FAIL NAME` for tests/run.sh. VMON_TEST_ENGINE (bt) picks the
# engine.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

vmon=${VMON_SAN:-build/vmon-san}
client=${VMON:-build/vmon}
engine=${VMON_TEST_ENGINE:-bt}
guest=build/guests/hostile/exit_on_input.bin
want=99
work=$(mktemp -d)
pids=()
trap 'exec 3>&- 4>&-; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1"; shift; printf '    %s\n' "$@"; }
api() { reply=$("$client" api "$sock" "$@" 2>&1); rc=$?; }
json() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" <<<"$reply"; }
wait_for() {	# wait_for FILE PATTERN: up to 30 s
	for _ in $(seq 300); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# reap PID: its exit status, or 124 if it is still running after 60 s (then killed).
reap() {
	for _ in $(seq 600); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1"
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1"
}

# start NAME ARGS...: the guest with an API socket, its stdin on fd 3 of this script; sets vm,
# sock, errors=().
start() {
	local name=$1
	shift
	sock=$work/$name.sock
	mkfifo "$work/$name.in"
	"$vmon" run --engine "$engine" --mem 64M --kernel "$guest" --console stdio \
		--api-sock "$sock" "$@" <"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" &
	vm=$!
	pids+=("$vm")
	exec 3>"$work/$name.in"
	errors=()
	wait_for "$work/$name.out" ready ||
		errors+=("the guest never started: $(head -n 2 "$work/$name.err")")
}

# finish NAME: the VM must end with the guest's status, remove its socket, report nothing.
finish() {
	local name=$1 status
	exec 3>&-
	reap "$vm"
	status=$?
	[ "$status" = "$want" ] || errors+=("exit status $status, expected $want")
	[ ! -e "$sock" ] || errors+=("the API socket was left behind")
	if grep -q 'Sanitizer\|runtime error' "$work/$name.err"; then
		errors+=("$(grep -m 2 'Sanitizer\|runtime error' "$work/$name.err" | tr '\n' ' ')")
	fi
	if [ ${#errors[@]} = 0 ]; then ok "exit/$name"; else fail "exit/$name" "${errors[@]}"; fi
}

# A migration target that accepts and never reads: the source's migration stays active.
silent_target() {
	perl -MIO::Socket::UNIX -e '
		my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $ARGV[0], Listen => 1)
			or die "$ARGV[0]: $!\n";
		my $c = $l->accept;
		sleep 120;' "$1" &
	pids+=($!)
	for _ in $(seq 50); do [ -S "$1" ] && return; sleep 0.1; done
}

exit_mid_migration() {
	local name=$1
	shift
	start "$name" "$@"
	silent_target "$work/$name.target"
	api migrate uri="unix:$work/$name.target"
	[ $rc = 0 ] || errors+=("migrate: $reply")
	sleep 0.5
	api status
	grep -q '"migration":{"state":"active"' <<<"$reply" ||
		errors+=("the migration is not active: $reply")
	printf x >&3
	finish "$name"
}

exit_mid_migration migrate
exit_mid_migration migrate-net --net user

# ---- snapshot: the byte and the request race
snap_errors=()
whole=0
for i in 1 2 3 4 5; do	# odd: the byte first
	start "snap$i"
	rm -f "$work/snap$i.vmsnap"
	if [ $((i % 2)) = 1 ]; then
		printf x >&3
		api snapshot path="$work/snap$i.vmsnap"
	else
		api snapshot path="$work/snap$i.vmsnap" &
		snap=$!
		sleep "0.0$((i * 2))"
		printf x >&3
		wait "$snap"
	fi
	finish "snap$i" >"$work/snap$i.result"
	grep -q '^ok ' "$work/snap$i.result" ||
		snap_errors+=("snapshot $i: $(tail -n +2 "$work/snap$i.result" | tr '\n' ' ')")
	[ ! -e "$work/snap$i.vmsnap.tmp" ] || snap_errors+=("snapshot $i: a .tmp file was left")
	if [ -e "$work/snap$i.vmsnap" ]; then
		whole=$((whole + 1))
		# Whole: it restores, and that guest ends on its next byte too.
		echo x | timeout 60 "$vmon" run --engine "$engine" --restore "$work/snap$i.vmsnap" \
			--console stdio >"$work/restored$i.out" 2>"$work/restored$i.err"
		status=$?
		[ $status = $want ] || snap_errors+=("snapshot $i: restored exit status $status:" \
			"$(head -n 2 "$work/restored$i.err")")
	fi
done
if [ ${#snap_errors[@]} = 0 ]; then
	ok "exit/snapshot ($whole of 5 taken and restored, the others refused)"
else fail exit/snapshot "${snap_errors[@]}"; fi

# ---- pause: the byte waits for resume
start pause
api pause
[ $rc = 0 ] || errors+=("pause: $reply")
printf x >&3
sleep 0.5
api status
[ "$(json state)" = paused ] || errors+=("not paused after the byte: $reply")
api resume
finish pause
exit 0
