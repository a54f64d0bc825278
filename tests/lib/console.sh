# Driving a VM's serial console as a person would (sourced by test scripts, not run):
#   console_start PREFIX CMD...   runs CMD (a vmon) with its console on PREFIX.out, stderr on
#                                 PREFIX.err and its stdin on a FIFO this shell holds open
#   console_wait TEXT SECS        waits for TEXT anywhere in the console (a prompt has no newline)
#   console_wait_line LINE SECS   waits for LINE as a whole console line (not the typed echo)
#   console_send TEXT             types TEXT and Enter
#   console_text                  the console so far, without CRs and terminal escapes
#   console_output_after TEXT     the console lines after the last line that contains TEXT
#   console_elapsed               seconds since console_start
#   console_finish SECS           closes stdin, waits up to SECS for the VM to end (then kills
#                                 it) and sets console_status to its exit status (not in a
#                                 subshell: only this shell can wait for the VM)
# The waits poll the console file, so they hold under a loaded machine; both return 1 when the
# time is up or the VM has ended.

console_start() {
	console_prefix=$1
	shift
	rm -f "$console_prefix.in"
	mkfifo "$console_prefix.in"
	: >"$console_prefix.out"	# the waits may look before the VM writes
	"$@" <"$console_prefix.in" >"$console_prefix.out" 2>"$console_prefix.err" &
	console_pid=$!
	exec {console_fd}>"$console_prefix.in"
	console_t0=$EPOCHREALTIME
}

console_text() {
	tr -d '\r' <"$console_prefix.out" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g'
}

# console_poll SECS TEST...: runs TEST every 0.2 s until it succeeds (0) or time is up (1).
console_poll() {
	local deadline=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $deadline ]; do
		"$@" && return 0
		kill -0 "$console_pid" 2>/dev/null || { "$@"; return; }
		sleep 0.2
	done
	return 1
}
console_has() { console_text | grep -qF -- "$1"; }
console_has_line() { console_text | grep -qxF -- "$1"; }
console_wait() { console_poll "$2" console_has "$1"; }
console_wait_line() { console_poll "$2" console_has_line "$1"; }

console_send() {
	printf '%s\n' "$1" >&"$console_fd"
}

console_output_after() {
	console_text | awk -v m="$1" 'index($0, m) { n = NR; delete l; next } n { l[NR] = $0 }
		END { for (i = n + 1; i in l; i++) print l[i] }'
}

console_elapsed() {
	awk -v a="$console_t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

console_finish() {
	local deadline=$((SECONDS + $1))
	exec {console_fd}>&-
	while kill -0 "$console_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.2
	done
	kill -9 "$console_pid" 2>/dev/null
	wait "$console_pid"
	console_status=$?
	rm -f "$console_prefix.in"
}
