#!/bin/sh
# install-deps.sh - installs the Debian packages memtide builds and tests
# with, when some are missing (Debian 12, as root).  Does nothing when all
# are there, so it is cheap to run before every build.
set -e
PKGS="gcc g++ make pkg-config libzstd-dev libunwind-dev libdw-dev libelf-dev \
zlib1g-dev liblzma-dev libbz2-dev libiberty-dev libncurses-dev libcairo2-dev \
python3 python3-dev python3-numpy python3-pytest python3-ipython python3-setuptools \
python3-ipykernel python3-nbclient python3-nbformat \
python3-pip python3-wheel python3-venv python3-jsonschema \
chromium fonts-dejavu-core \
clang-14 libclang-rt-14-dev zstd tmux gdb openmpi-bin libopenmpi-dev \
python3-distributed python3-pandas"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# Node.js and npm build the HTML pages; this machine kind may ship its own.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: run as root (or install:$missing)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
