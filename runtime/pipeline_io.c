/* SPDX-License-Identifier: MIT */
/*
 * runtime/pipeline_io.c — where each pipeline stage's weights come from, said in the info log.
 *
 * Every stage opens the model file itself, so its reads come from the drive that file is on,
 * whatever GPU the stage computes on: with one copy of the model there is no choice to make.
 * What the topology adds (runtime/sys/topo.h) is whether that drive is the stage GPU's nearest
 * NVMe, or how far it is (another switch, another NUMA node: traffic through the host's memory
 * system), which is what someone placing copies of a model across drives needs to know.  Nothing
 * here changes what is read or where staging memory lives; the log says so.
 */
#include "backend/cuda/cuda_devices.h"
#include "pipeline.h"
#include "sys/storage.h"
#include "sys/topo.h"

#include <string.h>

void sl_pipe_report_io(struct sluice_model *m)
{
	struct sl_pipe *pp = m->pipe;
	struct sl_storage st = { .numa_node = -1 };
	struct sl_topo t = { 0 };
	struct sl_err e = { "" };
	bool have_st = !sl_storage_of_file(m->gguf->path, NULL, &st, &e);
	struct sl_topo_opts to = { .no_drm = true };
	bool have_topo = !sl_topo_load(&to, &t, &e);
	struct sl_cuda_dev_info cd[SLUICE_MAX_DEVICES * 4];
	int n_cd = 0;
	if (!strcmp(pp->be[0]->ops->name, "cuda") && sl_cuda_list_devices(cd, (int)SL_ARRAY_SIZE(cd), &n_cd, NULL, &e))
		n_cd = 0;
	if (have_st)
		sl_info("pipeline: the model file is on %s (%s, NUMA node %d); every stage reads it from there", st.block,
			st.bdf[0] ? st.bdf : "no PCI function", st.numa_node);
	else
		sl_info("pipeline: the model file's drive is unknown; every stage reads the file itself");
	for (int s = 0; s < pp->n; s++) {
		const char *pci = NULL;
		for (int i = 0; i < n_cd; i++)
			if (cd[i].ordinal == pp->device[s])
				pci = cd[i].pci;
		int g = pci && have_topo ? sl_topo_find(&t, pci) : -1;
		int nv = g >= 0 ? sl_topo_nearest_nvme(&t, (uint32_t)g) : -1;
		if (!pci) {
			sl_info("pipeline stage %d (%s:%d): not a PCI device; no nearest drive", s, pp->be[s]->ops->name,
				pp->device[s]);
		} else if (nv < 0) {
			sl_info("pipeline stage %d (%s:%d, pci %s): %s", s, pp->be[s]->ops->name, pp->device[s], pci,
				g < 0 ? "not in the PCI topology: nearest drive unknown" : "no NVMe in the topology");
		} else {
			const bool same = have_st && !strcmp(t.dev[nv].bdf, st.bdf);
			sl_info("pipeline stage %d (%s:%d, pci %s, NUMA node %d): nearest NVMe %s (%s)%s", s,
				pp->be[s]->ops->name, pp->device[s], pci, t.dev[g].numa_node, t.dev[nv].bdf,
				sl_topo_rel_name(sl_topo_relation(&t, (uint32_t)g, (uint32_t)nv, NULL)),
				same ? ", which holds the model file" : ", not the model file's drive: its reads come from farther away");
		}
	}
	if (have_topo)
		sl_topo_free(&t);
}
