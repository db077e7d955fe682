# mk/gpu.mk — the real-GPU checks' helper program (tests/gpu/): built with everything else (`make`),
# because it needs no CUDA toolkit (it dlopens libcuda.so.1 at run time).
#   $(BUILD)/tests/gpu/bw_probe   host<->device copy bandwidths; --detect says whether a real GPU is there
all: $(BUILD)/tests/gpu/bw_probe

$(BUILD)/tests/gpu/bw_probe: tests/gpu/bw_probe.c runtime/backend/cuda/cuda_abi.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Werror -I. $(SAN) -o $@ $< -ldl $(SAN)

#   $(BUILD)/tests/gpu/logits_diff   whole-model logits of a backend against the cpu backend
all: $(BUILD)/tests/gpu/logits_diff

$(BUILD)/tests/gpu/logits_diff: tests/gpu/logits_diff.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB_A) $(LDLIBS_ALL)
