#!/bin/sh
# deps.sh: install the Debian packages the build and tests need.
# Installs with apt-get when root and something is missing; otherwise
# says exactly what to install.  kubernetes-client (kubectl) only when
# no kubectl is on PATH.
set -u
missing=""
for p in "$@"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
if ! command -v kubectl >/dev/null 2>&1; then
	missing="$missing kubernetes-client"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root: apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || exit 1
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing || exit 1
