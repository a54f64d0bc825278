# Shared by the benchmarks that time guest console lines (sourced, not run).

# Microseconds of $EPOCHREALTIME into the variable named $1, without a subshell: a fork per
# console line delayed the timestamps of both VMMs by most of a second. Needs LC_ALL=C.
now_us() {
	local t=${EPOCHREALTIME/./}
	printf -v "$1" '%d' $((10#$t))
}

median() {
	[ $# -gt 0 ] || return 0
	printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"
}

# Microseconds -> "S.CC s", or "-" for none.
secs() {
	[ -n "$1" ] || { echo -; return; }
	printf '%d.%02d s' $(($1 / 1000000)) $(($1 % 1000000 / 10000))
}

# A / B as "N.NNx", or "-" if either is missing.
ratio() {
	if [ -z "$1" ] || [ -z "$2" ]; then
		echo -
		return
	fi
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
}
