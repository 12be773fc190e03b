#!/bin/sh
# setup.sh - installs what tests/html needs, when it is missing (Debian 12,
# as root): Debian's chromium (driven over the DevTools protocol, so no
# chromedriver is needed), node and npm, and the npm packages pinned by
# web/package-lock.json (npm ci --prefix web).  Cheap when all is there.
set -e
cd "$(dirname "$0")/../.."
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "tests/html/setup.sh: run as root (or install:$missing)" >&2
		exit 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing fonts-dejavu-core
fi
# npm ci when node_modules is missing or older than the lock file
if [ ! -f web/node_modules/.package-lock.json ] ||
	[ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
	npm ci --prefix web --no-audit --no-fund
fi
