#!/usr/bin/env bash
# Installs what the appliance and its tests need on a fresh Debian machine.
# Run as root. Safe to run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  nftables libnftables1 conntrack   # the data path: nf_tables via libnftables, conntrack clean-up
  dnsmasq-base                      # guest DHCP and DNS
  iproute2 isc-dhcp-client curl     # the lab: namespaces, a DHCP client and HTTP in each guest
  bind9-dnsutils                    # dig: the DNS tests ask for TXT records and many names
  iputils-arping iputils-ping       # the IP-clone test announces its stolen address; LAN ping test
  chromium chromium-driver          # the browser test
  fonts-wqy-microhei                # Chinese glyphs in the browser's screenshots
  hostapd                           # (AP issue) hostapd's own parser for generated configs
  systemd                           # systemd-analyze verify/security on the shipped unit
  ca-certificates                   # the controller's HTTPS to SMS gateways, QQ/Weibo (a package dependency)
  postgresql                        # a throwaway PostgreSQL cluster for the member store tests (initdb, no service)
  mmdebstrap fdisk extlinux syslinux-common   # image/build.sh: the appliance's disk image
  qemu-system-x86                   # the image's smoke test boots it (software emulation, no KVM needed)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
