#!/usr/bin/env bash
# Installs the XMPP servers the federation tests and the benchmark run beside
# Waxwing, from Debian's packages, when they are missing:
#
#   prosody      Prosody 0.12
#   lua-unbound  Prosody's resolver (net.unbound): the federation harness
#                points it at a hosts file through the `unbound` option
#   ejabberd     ejabberd 23.01 (and Erlang/OTP)
#   openssl      the harness makes the test certificates with it
#
# Their system services are kept from starting: the tests and the benchmark
# run each server as the current user, on loopback, with a config of their own.
# Instant when everything is present. Installing needs root (CI is root).
set -euo pipefail

missing=()
for pkg in prosody lua-unbound ejabberd openssl; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "error: ${missing[*]} missing and not root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
echo "tests/peers/install.sh: installing ${missing[*]} from Debian's packages" >&2
# Keep the packages' system services from starting: invoke-rc.d asks
# policy-rc.d, and 101 means "not allowed". Ours only while installing.
own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
fi
cleanup() { if [ $own_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Where a service manager started them anyway, stop them: they would hold
# 5222 and 5269 on every address, the ports each test server takes on its own.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl stop prosody ejabberd 2>/dev/null || true
    systemctl disable prosody ejabberd 2>/dev/null || true
fi
