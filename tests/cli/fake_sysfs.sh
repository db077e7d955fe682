# tests/cli/fake_sysfs.sh — sourced by the topology tests (not a test itself): one PCI function in a
# fake sysfs tree, the files `sluice topo` and runtime/sys/ read.
#
#   fake_pci_dev ROOT RELPATH CLASS NODE DRIVER
#   RELPATH: the device's path under ROOT/devices (pci0000:40/0000:40:00.0/...), its BDF the last part;
#   DRIVER: the bound driver's name, or "" for none.
#   env: FAKE_PCI_IDS="vendor device subsystem_vendor subsystem_device" (default: QEMU's NVMe),
#        FAKE_PCI_LINK="current_GT/s max_GT/s width" (default 8.0 16.0 4)
fake_pci_dev() {
    local R=$1 d=$1/devices/$2 bdf=${2##*/} ids link
    read -ra ids <<<"${FAKE_PCI_IDS:-0x1b36 0x0010 0x1af4 0x1100}"
    read -ra link <<<"${FAKE_PCI_LINK:-8.0 16.0 4}"
    mkdir -p "$d" "$R/bus/pci/devices"
    echo "$3" > "$d/class"; echo "${ids[0]}" > "$d/vendor"; echo "${ids[1]}" > "$d/device"
    echo "${ids[2]}" > "$d/subsystem_vendor"; echo "${ids[3]}" > "$d/subsystem_device"; echo "$4" > "$d/numa_node"
    echo "${link[0]} GT/s PCIe" > "$d/current_link_speed"; echo "${link[1]} GT/s PCIe" > "$d/max_link_speed"
    echo "${link[2]}" > "$d/current_link_width"; echo "${link[2]}" > "$d/max_link_width"
    printf '0x00000000fe000000 0x00000000fe003fff 0x0000000000140204\n' > "$d/resource"
    if [ -n "$5" ]; then mkdir -p "$R/bus/pci/drivers/$5"; ln -s "$R/bus/pci/drivers/$5" "$d/driver"; fi
    ln -s "../../../devices/$2" "$R/bus/pci/devices/$bdf"
}
