#!/bin/busybox sh
# /init of the test VM (busybox).  Loads the device drivers the host chose
# (modules.order: dependencies first), waits for the devices, runs /vmtest,
# and powers off.  Everything goes to the serial console.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "@@SLUICE BOOTED $(cat /proc/uptime)"
while read -r m; do
    insmod "/lib/modules/$m" 2>/dev/null || echo "@@SLUICE insmod $m failed"
done < /modules.order
# Probing is asynchronous: wait (at most 10 s) for both NVMe controllers and both DRM cards.
i=0
while [ $i -lt 100 ]; do
    n=$(ls -d /sys/class/nvme/nvme* /sys/class/drm/card[0-9] 2>/dev/null | wc -l)
    [ "$n" -ge 4 ] && break
    sleep 0.1; i=$((i + 1))
done
echo "@@SLUICE DEVICES $(ls /sys/class/nvme /sys/class/drm | tr '\n' ' ')"
mode=$(sed -n 's/.*sluice_mode=\([a-z_]*\).*/\1/p' /proc/cmdline)
if [ -n "$mode" ]; then
    # the suite's extra boots (IOMMU off, a shared IOMMU group): only their checks
    rc=0
    [ -x /nvme.sh ] && /nvme.sh "$mode"
else
    /vmtest /sluice.ko
    rc=$?
    # the userspace NVMe driver (VFIO): its own checks, same markers
    [ -x /nvme.sh ] && /nvme.sh
fi
echo "@@SLUICE DONE rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
dmesg | grep -iE 'sluice|bug|warn|oom|error' | tail -n 40 | sed 's/^/dmesg: /'
poweroff -f
