# mk/bench.mk — CPU benchmarks (bench/): `make bench` builds them under $(BUILD)/bench/.
#   $(BUILD)/bench/membw          read-bandwidth probe
#   $(BUILD)/bench/matmul_bench   decode-shaped quantized matmul microbenchmark
# bench/cpu-decode.sh runs them (and `sluice run` when it can).
.PHONY: bench
bench: $(BUILD)/bench/membw $(BUILD)/bench/matmul_bench

$(BUILD)/bench/membw: bench/membw.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Werror -pthread -o $@ $< -lpthread

$(BUILD)/bench/matmul_bench: bench/matmul_bench.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB_A) $(LDLIBS_ALL)
