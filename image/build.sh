#!/usr/bin/env bash
# Builds the appliance: a bootable Debian 12 disk image (raw, MBR, one ext4
# partition, extlinux) from Debian's packages with the guestwifi-controller
# .deb installed and enabled, nftables and dnsmasq, systemd-networkd for the
# two ports, a serial console, and a first-boot step that reads which port is
# which from one file, /etc/guestwifi/interfaces.env.
#
#   sudo ./image/build.sh [OUT.img]     (default target/image/guestwifi.img)
#
# Needs root (a loop device to install the boot loader), mmdebstrap and
# extlinux (scripts/install-deps.sh installs them), and the .deb
# (scripts/package.sh builds it). Write it to a disk or a mini-PC's SSD with
#   sudo dd if=target/image/guestwifi.img of=/dev/sdX bs=4M conv=fsync status=progress
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/image/guestwifi.img}"
size="${IMAGE_SIZE:-2G}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
deb=$(ls -t target/debian/guestwifi-controller_*.deb 2>/dev/null | head -1 || true)
[ -n "$deb" ] || { echo "no target/debian/guestwifi-controller_*.deb: run scripts/package.sh first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (a loop device installs the boot loader)" >&2; exit 1; }

work=$(mktemp -d /tmp/guestwifi-image.XXXXXX)
loop=""
cleanup() {
    mountpoint -q "$work/mnt" && umount "$work/mnt"
    [ -n "$loop" ] && losetup -d "$loop"
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/mnt" "$(dirname "$out")"
cp "$deb" "$work/guestwifi-controller.deb"

# The root file system, as a tarball: Debian's packages, then ours (apt
# resolves what it declares: libnftables1, nftables, dnsmasq-base). A
# mirror that fails mid-way is tried again.
rootfs() {
mmdebstrap --variant=minbase --mode=root \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --include=systemd-sysv,udev,linux-image-amd64,initramfs-tools,iproute2,kmod,netbase,procps,ca-certificates,nftables,dnsmasq-base,libnftables1 \
    --customize-hook='copy-in '"$work"'/guestwifi-controller.deb /tmp' \
    --customize-hook='chroot "$1" apt-get install -y --no-install-recommends /tmp/guestwifi-controller.deb' \
    --customize-hook='rm "$1"/tmp/guestwifi-controller.deb' \
    --customize-hook='copy-in image/rootfs/etc /' \
    --customize-hook='copy-in image/rootfs/usr /' \
    --customize-hook='chroot "$1" sh -c "echo guestwifi > /etc/hostname; passwd -l root; systemctl enable systemd-networkd guestwifi-interfaces guestwifi-controller guestwifi-setup-code; apt-get clean; rm -rf /var/lib/apt/lists/*"' \
    bookworm "$work/rootfs.tar" "$mirror"
}
for try in 1 2 3; do
    rootfs && break
    [ "$try" = 3 ] && { echo "mmdebstrap failed three times" >&2; exit 1; }
    sleep 10
done

# The disk: one bootable partition from 1 MiB, ext4, extlinux, Debian's kernel.
rm -f "$out"
truncate -s "$size" "$out"
echo 'start=2048, type=83, bootable' | sfdisk --quiet "$out"
# The partition through a loop device at its offset (no partition device
# nodes needed: builders in containers have no udev to make them).
loop=$(losetup --find --show --offset $((2048 * 512)) "$out")
mkfs.ext4 -q -L guestwifi-root "$loop"
uuid=$(blkid -s UUID -o value "$loop")
mount "$loop" "$work/mnt"
tar -C "$work/mnt" -xf "$work/rootfs.tar"
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" > "$work/mnt/etc/fstab"
kernel=$(cd "$work/mnt" && ls boot/vmlinuz-* | sort -V | tail -1)
initrd=$(cd "$work/mnt" && ls boot/initrd.img-* | sort -V | tail -1)
mkdir -p "$work/mnt/boot/extlinux"
cat > "$work/mnt/boot/extlinux/extlinux.conf" <<EOF
DEFAULT guestwifi
TIMEOUT 10
PROMPT 0
SERIAL 0 115200
LABEL guestwifi
    LINUX /$kernel
    INITRD /$initrd
    APPEND root=UUID=$uuid ro net.ifnames=0 console=tty0 console=ttyS0,115200
EOF
extlinux --install "$work/mnt/boot/extlinux" 2>/dev/null
umount "$work/mnt"
losetup -d "$loop"
loop=""
dd if=/usr/lib/EXTLINUX/mbr.bin of="$out" bs=440 count=1 conv=notrunc status=none
echo "$out: $(du -h --apparent-size "$out" | cut -f1) disk, $(du -h "$out" | cut -f1) used"
