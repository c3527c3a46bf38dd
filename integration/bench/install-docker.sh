#!/bin/sh
# Installs Debian's Docker Engine (docker.io) for the DockerVM baseline of
# `make bench`, unless dockerd is already there. No daemon is started: the
# bench runs its own dockerd with its state in a temporary directory.
set -eu
command -v dockerd >/dev/null 2>&1 && exit 0
created=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	# keep the package's init script from starting a system-wide daemon
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	created=1
fi
trap '[ -z "$created" ] || rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io
