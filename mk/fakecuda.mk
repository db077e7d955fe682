# mk/fakecuda.mk — the stand-in CUDA driver of the tests: $(BUILD)/fakecuda/libcuda.so.1, built by
# `make all`.  Run anything against it with LD_LIBRARY_PATH=$(BUILD)/fakecuda (see
# Documentation/testing-gpu.md).  Its launches run the host-compiled firmware (libsluice_fw_host.a)
# when the tree has it (firmware/simt/*.c), else an empty registry (tests/fakecuda/simt_stub.c), with
# which only the fake's own test kernels run.
FAKECUDA_SO   := $(BUILD)/fakecuda/libcuda.so.1
FAKECUDA_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tests/fakecuda/fake_*.c)))

ifneq ($(wildcard firmware/simt/*.c),)
FAKECUDA_FW := $(BUILD)/libsluice_fw_host.a
else
FAKECUDA_FW := $(BUILD)/tests/fakecuda/simt_stub.o
endif

.PHONY: fakecuda
fakecuda: $(FAKECUDA_SO)
all tests: $(FAKECUDA_SO)

$(FAKECUDA_SO): $(FAKECUDA_OBJS) $(FAKECUDA_FW) mk/fakecuda.mk
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libcuda.so.1 -Wl,--no-undefined -o $@ $(FAKECUDA_OBJS) $(FAKECUDA_FW) \
	    -lm -lpthread $(SAN)

-include $(FAKECUDA_OBJS:.o=.d) $(BUILD)/tests/fakecuda/simt_stub.d
