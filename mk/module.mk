# mk/module.mk — build sluice.ko out of tree, under $(BUILD)/module.
#
#   make module [KDIR=/lib/modules/<ver>/build] [MODULE_W=1]
#
# KDIR defaults to the newest installed Debian linux-headers-*-amd64, not to
# `uname -r`: the machine building may run another kernel than the one the
# module is for (the VM boots Debian's linux-image-amd64).
#
# Kbuild on 6.1 writes objects next to the sources, so the sources are linked
# into $(BUILD)/module and Kbuild runs there; the tree itself stays clean.

MODULE_KVER ?= $(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | \
                 sed 's|.*/linux-headers-||' | sort -V | tail -n 1)
KDIR        ?= /lib/modules/$(MODULE_KVER)/build
MODULE_W    ?= 1
MODULE_DIR  := $(abspath $(BUILD))/module
MODULE_KO   := $(MODULE_DIR)/sluice.ko
MODULE_SRCS := Kbuild $(wildcard driver/*.c driver/*.h uapi/linux/*.h)

.PHONY: module module-clean
module: $(MODULE_KO)

# env -u: our command-line variables (CFLAGS=, SAN=, BUILD=) must not leak into Kbuild.
$(MODULE_KO): $(MODULE_SRCS) mk/module.mk
	@test -d $(KDIR) || { echo "module: no kernel build tree at KDIR=$(KDIR) (apt-get install linux-headers-amd64)"; exit 1; }
	@mkdir -p $(MODULE_DIR)/driver
	@ln -sf $(CURDIR)/Kbuild $(MODULE_DIR)/Kbuild
	@for f in $(filter driver/%,$(MODULE_SRCS)); do ln -sf $(CURDIR)/$$f $(MODULE_DIR)/$$f; done
	@ln -sfn $(CURDIR)/uapi $(MODULE_DIR)/uapi
	env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL \
	    $(MAKE) -C $(KDIR) M=$(MODULE_DIR) W=$(MODULE_W) modules

module-clean:
	rm -rf $(MODULE_DIR)
