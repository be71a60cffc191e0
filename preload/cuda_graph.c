/*
 * cuda_graph.c — how many kernels a graph launch runs: its kernel nodes,
 * child graphs' included, counted when the executable graph is made
 * (every cuGraphInstantiate* form) and again when cuGraphExecUpdate
 * succeeds. The count comes from the source graph through the driver's
 * own node queries (cuGraphGetNodes, cuGraphNodeGetType,
 * cuGraphChildGraphNodeGetGraph).
 *
 * The table is read by every graph launch without a lock: open
 * addressing, keys set under the lock, a destroyed graph's key replaced
 * by a tombstone (never by "empty", which would cut other keys' probe
 * chains); an insert reuses the first tombstone of its chain.
 */
#include <pthread.h>
#include <stdlib.h>

#include "cushim.h"
#include "say.h"

#define GRAPHS 4096 /* a power of two */
#define TOMB ((void *)1)
#define DEPTH_MAX 16

static struct {
	void *_Atomic key;
	_Atomic uint64_t kernels;
} tab[GRAPHS];
static pthread_mutex_t tab_mtx = PTHREAD_MUTEX_INITIALIZER;

static size_t
slot_of(const void *k)
{
	uintptr_t x = (uintptr_t)k;

	x ^= x >> 17;
	x *= 0x9e3779b97f4a7c15ull;
	return (size_t)(x >> 40) & (GRAPHS - 1);
}

uint64_t
cu_graph_kernels(CUgraphExec g)
{
	size_t i = slot_of(g);

	for (size_t n = 0; n < GRAPHS; n++, i = (i + 1) & (GRAPHS - 1)) {
		void *k = atomic_load_explicit(&tab[i].key,
		    memory_order_acquire);

		if (k == (void *)g)
			return atomic_load_explicit(&tab[i].kernels,
			    memory_order_relaxed);
		if (k == NULL)
			break;
	}
	return 0;
}

static void
remember(CUgraphExec g, uint64_t kernels)
{
	size_t i = slot_of(g), free = GRAPHS;

	pthread_mutex_lock(&tab_mtx);
	for (size_t n = 0; n < GRAPHS; n++, i = (i + 1) & (GRAPHS - 1)) {
		void *k = atomic_load_explicit(&tab[i].key,
		    memory_order_relaxed);

		if (k == (void *)g) {
			free = i;
			break;
		}
		if (k == TOMB && free == GRAPHS)
			free = i;
		if (k == NULL) {
			if (free == GRAPHS)
				free = i;
			break;
		}
	}
	if (free == GRAPHS)
		shim_say("more than %d executable CUDA graphs: launches of "
		    "new ones are counted as graphs without kernels", GRAPHS);
	else {
		atomic_store_explicit(&tab[free].kernels, kernels,
		    memory_order_relaxed);
		atomic_store_explicit(&tab[free].key, (void *)g,
		    memory_order_release);
	}
	pthread_mutex_unlock(&tab_mtx);
}

static void
forget(CUgraphExec g)
{
	size_t i = slot_of(g);

	pthread_mutex_lock(&tab_mtx);
	for (size_t n = 0; n < GRAPHS; n++, i = (i + 1) & (GRAPHS - 1)) {
		void *k = atomic_load_explicit(&tab[i].key,
		    memory_order_relaxed);

		if (k == (void *)g) {
			atomic_store_explicit(&tab[i].key, TOMB,
			    memory_order_release);
			break;
		}
		if (k == NULL)
			break;
	}
	pthread_mutex_unlock(&tab_mtx);
}

/* Kernel nodes of g, recursively; 0 where the driver will not say. */
static uint64_t
count_kernels(CUgraph g, int depth)
{
	tg_pfn_cuGraphGetNodes get = CU_REAL(cuGraphGetNodes);
	tg_pfn_cuGraphNodeGetType type = CU_REAL(cuGraphNodeGetType);
	tg_pfn_cuGraphChildGraphNodeGetGraph child =
	    CU_REAL(cuGraphChildGraphNodeGetGraph);
	CUgraphNode *nodes;
	size_t n = 0;
	uint64_t k = 0;

	if (get == NULL || type == NULL || depth > DEPTH_MAX ||
	    get(g, NULL, &n) != CUDA_SUCCESS || n == 0 ||
	    (nodes = calloc(n, sizeof(*nodes))) == NULL)
		return 0;
	if (get(g, nodes, &n) == CUDA_SUCCESS) {
		for (size_t i = 0; i < n; i++) {
			CUgraphNodeType t;
			CUgraph c;

			if (type(nodes[i], &t) != CUDA_SUCCESS)
				continue;
			if (t == CU_GRAPH_NODE_TYPE_KERNEL)
				k++;
			else if (t == CU_GRAPH_NODE_TYPE_GRAPH && child &&
			    child(nodes[i], &c) == CUDA_SUCCESS)
				k += count_kernels(c, depth + 1);
		}
	}
	free(nodes);
	return k;
}

static CUresult
made(CUresult rc, CUgraphExec *out, CUgraph g)
{
	if (rc == CUDA_SUCCESS && out != NULL && *out != NULL)
		remember(*out, count_kernels(g, 0));
	return rc;
}

CUresult
cuGraphInstantiate(CUgraphExec *e, CUgraph g, CUgraphNode *err, char *log,
    size_t n)
{
	tg_pfn_cuGraphInstantiate real = CU_REAL(cuGraphInstantiate);

	CU_NOT_INIT(real);
	return made(real(e, g, err, log, n), e, g);
}

CUresult
cuGraphInstantiate_v2(CUgraphExec *e, CUgraph g, CUgraphNode *err, char *log,
    size_t n)
{
	tg_pfn_cuGraphInstantiate_v2 real = CU_REAL(cuGraphInstantiate_v2);

	CU_NOT_INIT(real);
	return made(real(e, g, err, log, n), e, g);
}

CUresult
cuGraphInstantiateWithFlags(CUgraphExec *e, CUgraph g,
    unsigned long long flags)
{
	tg_pfn_cuGraphInstantiateWithFlags real =
	    CU_REAL(cuGraphInstantiateWithFlags);

	CU_NOT_INIT(real);
	return made(real(e, g, flags), e, g);
}

CUresult
cuGraphInstantiateWithParams(CUgraphExec *e, CUgraph g,
    CUDA_GRAPH_INSTANTIATE_PARAMS *p)
{
	tg_pfn_cuGraphInstantiateWithParams real =
	    CU_REAL(cuGraphInstantiateWithParams);

	CU_NOT_INIT(real);
	return made(real(e, g, p), e, g);
}

CUresult
cuGraphInstantiateWithParams_ptsz(CUgraphExec *e, CUgraph g,
    CUDA_GRAPH_INSTANTIATE_PARAMS *p)
{
	tg_pfn_cuGraphInstantiateWithParams_ptsz real =
	    CU_REAL(cuGraphInstantiateWithParams_ptsz);

	CU_NOT_INIT(real);
	return made(real(e, g, p), e, g);
}

CUresult
cuGraphExecUpdate(CUgraphExec e, CUgraph g, CUgraphNode *err,
    CUgraphExecUpdateResult *res)
{
	tg_pfn_cuGraphExecUpdate real = CU_REAL(cuGraphExecUpdate);
	CUresult rc;

	CU_NOT_INIT(real);
	if ((rc = real(e, g, err, res)) == CUDA_SUCCESS)
		remember(e, count_kernels(g, 0));
	return rc;
}

CUresult
cuGraphExecUpdate_v2(CUgraphExec e, CUgraph g,
    CUgraphExecUpdateResultInfo *info)
{
	tg_pfn_cuGraphExecUpdate_v2 real = CU_REAL(cuGraphExecUpdate_v2);
	CUresult rc;

	CU_NOT_INIT(real);
	if ((rc = real(e, g, info)) == CUDA_SUCCESS)
		remember(e, count_kernels(g, 0));
	return rc;
}

CUresult
cuGraphExecDestroy(CUgraphExec e)
{
	tg_pfn_cuGraphExecDestroy real = CU_REAL(cuGraphExecDestroy);

	CU_NOT_INIT(real);
	forget(e);
	return real(e);
}
