/* SPDX-License-Identifier: MIT */
/* sluice_stats_prometheus: argument checks, the -ENOSPC contract (cut text, full length reported,
 * NUL-terminated), and that a large buffer gets exactly the reported length. */
#include "sluice.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CHECK(c)                                                                                                   \
	do {                                                                                                       \
		if (!(c)) {                                                                                        \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);                              \
			return 1;                                                                                  \
		}                                                                                                  \
	} while (0)

int main(void)
{
	struct sluice_stats st;
	memset(&st, 0, sizeof(st));
	st.cache_hits = 3;
	st.cache_misses = 1;
	st.gen_tokens = 7;
	st.gen_ns = 3500000000ull;
	st.experts_routed = 8;
	st.expert_hits = 6;
	st.expert_bytes_read = 4096;
	size_t len = 0;
	char small[64], big[8192];
	CHECK(sluice_stats_prometheus(NULL, big, sizeof(big), &len) == -EINVAL);
	CHECK(sluice_stats_prometheus(&st, big, sizeof(big), NULL) == -EINVAL);
	CHECK(sluice_stats_prometheus(&st, NULL, 10, &len) == -EINVAL);
	size_t need = 0;
	CHECK(sluice_stats_prometheus(&st, NULL, 0, &need) == -ENOSPC && need > 0);
	CHECK(sluice_stats_prometheus(&st, small, sizeof(small), &len) == -ENOSPC && len == need);
	CHECK(strlen(small) == sizeof(small) - 1);
	CHECK(sluice_stats_prometheus(&st, big, need, &len) == -ENOSPC); /* no room for the NUL */
	CHECK(sluice_stats_prometheus(&st, big, need + 1, &len) == 0 && len == need && strlen(big) == need);
	CHECK(strstr(big, "\nsluice_cache_hit_ratio 0.75\n"));
	CHECK(strstr(big, "\nsluice_generation_tokens_per_second 2\n"));
	CHECK(strstr(big, "sluice_tokens_total{phase=\"generation\"} 7\n"));
	CHECK(strstr(big, "\nsluice_expert_hit_ratio 0.75\n"));
	CHECK(strstr(big, "\nsluice_experts_routed_total 8\n"));
	CHECK(strstr(big, "\nsluice_expert_read_bytes_total 4096\n"));
	CHECK(strstr(big, "\nsluice_moe_layer_passes_total 0\n"));
	printf("metrics text: %zu bytes\n", need);
	return 0;
}
