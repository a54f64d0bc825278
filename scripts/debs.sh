# Sourced (bash) by the scripts that fetch Debian packages with apt-get download
# (scripts/build-guest.sh, tests/slow/kvm_nested.sh).
#
#   apt_update                 apt-get update, at most once per script run (1 if already done)
#   candidate PKG              the version apt would install, or "(none)" / empty
#   download_debs DIR SPEC...  apt-get download SPEC (PKG=VERSION) into DIR, messages on stderr

# apt-get as root drops to the _apt user, which cannot write our mktemp directories.
apt_opts=()
[ "$(id -u)" -ne 0 ] || apt_opts=(-o APT::Sandbox::User=root)
apt_updated=no

apt_update() {
	[ $apt_updated = no ] || return 1
	apt_updated=yes
	echo "$(basename "$0"): apt-get update" >&2
	apt-get update -qq >&2
}

candidate() {
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p'
}

download_debs() {
	local dir=$1
	shift
	(cd "$dir" && apt-get download "${apt_opts[@]}" -q "$@" >&2)
}
