#!/usr/bin/env bash
# The container engine for ferry's container builds and their tests:
# podman (Debian's package) with runc, busybox-static (tests import it as an
# image: no registry is reachable), and the containers.conf settings these
# hosts need. Idempotent, and quick when everything is in place.
#
# Why the settings (/etc/containers/containers.conf.d/ferry.conf, read by
# rootful podman):
# - runtime = "runc": the hosts have hybrid (v1) cgroups, which crun refuses.
# - default_ulimits: root here lacks CAP_SYS_RESOURCE, so podman's default
#   rlimits (raised above the host's) make runc fail with "error setting
#   rlimit type 7/6: operation not permitted". nofile is set to the host's
#   hard limit, nproc below its hard limit (at most pid_max, which is what
#   podman's own process is held to).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-podman.sh: run as root (it installs packages and writes /etc/containers)" >&2
    exit 1
fi

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" || missing+=(busybox-static)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

limit() { # $1: the hard limit as ulimit prints it; $2: a cap
    if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi
}
pid_max=$(cat /proc/sys/kernel/pid_max)
nofile=$(limit "$(ulimit -Hn)" 1048576)
nproc=$(limit "$(ulimit -Hu)" "$pid_max")
conf=/etc/containers/containers.conf.d/ferry.conf
want=$(printf '# Written by ferry scripts/setup-podman.sh.\n[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n\n[engine]\nruntime = "runc"\n' \
    "$nofile" "$nofile" "$nproc" "$nproc")
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    mkdir -p "$(dirname "$conf")"
    printf '%s\n' "$want" > "$conf"
    echo "wrote $conf"
fi

# Check: a container from a locally imported busybox image runs.
check_image=localhost/ferry-setup-check:1
if ! podman image exists "$check_image"; then
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs/root/bin"
    cp /bin/busybox "$rootfs/root/bin/busybox"
    ln -s busybox "$rootfs/root/bin/sh"
    tar -C "$rootfs/root" -cf "$rootfs/rootfs.tar" .
    podman import -q "$rootfs/rootfs.tar" "$check_image" >/dev/null
fi
if ! out=$(podman run --rm --network none "$check_image" /bin/sh -c 'echo container-ok' 2>&1) || [ "$out" != container-ok ]; then
    echo "setup-podman.sh: podman cannot run a container here:" >&2
    echo "$out" >&2
    echo "(settings in $conf; podman info: $(podman info --format '{{.Host.OCIRuntime.Name}} cgroups {{.Host.CgroupsVersion}}' 2>&1))" >&2
    exit 1
fi
