#!/usr/bin/env bash
# Installs the Debian (bookworm) packages peapod needs to run and to be
# tested: the OCI runtime (runc; crun is optional), conmon, catatonit as the
# pause process, the CNI plugins, iptables and iproute2. Go itself is
# expected at /usr/local/go (or on PATH).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(runc crun conmon catatonit containernetworking-plugins iptables iproute2 ca-certificates)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
export PATH=$PATH:/usr/local/go/bin
if ! command -v go >/dev/null; then
	echo "Go is required (https://go.dev/dl; expected at /usr/local/go/bin/go)" >&2
	exit 1
fi
