#!/usr/bin/env bash
# Makes the local image localhost/ferry-hello:1 that taskdef.json runs: a
# rootfs holding busybox-static (sh, httpd, wget), imported with `podman
# import`, so no registry is needed. Idempotent.
set -euo pipefail
image=localhost/ferry-hello:1
podman image exists "$image" && exit 0
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "busybox is not installed (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$root/etc/passwd"
tar -C "$root" -c . | podman import - "$image" > /dev/null
echo "made $image"
