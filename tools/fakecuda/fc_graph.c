/*
 * fc_graph.c — CUDA graphs of kernel nodes and child-graph nodes.
 *
 * Dependencies are accepted and not modelled: a launched graph runs its
 * kernels (child graphs' included, recursively) back to back on the
 * stream, as one span of their summed durations. An executable graph is a
 * copy of its graph's shape taken at instantiation; cuGraphExecUpdate
 * takes the new durations when the shape (node types, child graphs) is
 * unchanged and fails with CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED
 * otherwise, so an executable graph's kernel count never changes.
 */
#include <stdlib.h>
#include <string.h>

#include "fakecuda.h"

struct fc_node {
	uint32_t magic;
	CUgraphNodeType type;   /* KERNEL or GRAPH */
	int64_t dur;            /* a kernel's ns */
	struct fc_graph *child; /* a child graph: our own copy */
};

struct fc_graph {
	uint32_t magic;
	size_t n, cap;
	struct fc_node **nodes;
};

struct fc_exec {
	uint32_t magic;
	struct fc_graph *shape;
	uint64_t kernels; /* kernel nodes, in child graphs too */
	int64_t total;    /* their summed durations */
};

struct fc_graph *
fc_graph_new(void)
{
	struct fc_graph *g = calloc(1, sizeof(*g));

	if (g != NULL)
		g->magic = FC_MAGIC_GRAPH;
	return g;
}

void
fc_graph_free(struct fc_graph *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++) {
		fc_graph_free(g->nodes[i]->child);
		g->nodes[i]->magic = 0;
		free(g->nodes[i]);
	}
	g->magic = 0;
	free(g->nodes);
	free(g);
}

static struct fc_node *
graph_add(struct fc_graph *g, CUgraphNodeType type, int64_t dur,
    struct fc_graph *child)
{
	struct fc_node *n, **v;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;

		if ((v = realloc(g->nodes, cap * sizeof(*v))) == NULL)
			return NULL;
		g->nodes = v;
		g->cap = cap;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	*n = (struct fc_node){ FC_MAGIC_NODE, type, dur, child };
	g->nodes[g->n++] = n;
	return n;
}

static struct fc_graph *
graph_clone(const struct fc_graph *g)
{
	struct fc_graph *c = fc_graph_new(), *child;
	size_t i;

	for (i = 0; c != NULL && i < g->n; i++) {
		child = NULL;
		if (g->nodes[i]->child != NULL &&
		    (child = graph_clone(g->nodes[i]->child)) == NULL)
			goto fail;
		if (graph_add(c, g->nodes[i]->type, g->nodes[i]->dur, child) == NULL) {
			fc_graph_free(child);
			goto fail;
		}
	}
	return c;
fail:
	fc_graph_free(c);
	return NULL;
}

static void
graph_sum(const struct fc_graph *g, uint64_t *kernels, int64_t *total)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		if (g->nodes[i]->child != NULL)
			graph_sum(g->nodes[i]->child, kernels, total);
		else if (g->nodes[i]->type == CU_GRAPH_NODE_TYPE_KERNEL) {
			++*kernels;
			*total += g->nodes[i]->dur;
		}
	}
}

static int
same_shape(const struct fc_graph *a, const struct fc_graph *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		if (a->nodes[i]->type != b->nodes[i]->type)
			return 0;
		if (a->nodes[i]->child != NULL &&
		    !same_shape(a->nodes[i]->child, b->nodes[i]->child))
			return 0;
	}
	return 1;
}

static struct fc_graph *
graph_of(CUgraph h)
{
	struct fc_graph *g = (struct fc_graph *)h;

	return g != NULL && g->magic == FC_MAGIC_GRAPH ? g : NULL;
}

static struct fc_exec *
exec_of(CUgraphExec h)
{
	struct fc_exec *e = (struct fc_exec *)h;

	return e != NULL && e->magic == FC_MAGIC_EXEC ? e : NULL;
}

CUresult
fc_graph_add_kernel(struct fc_graph *g, int64_t dur, CUgraphNode *out)
{
	struct fc_node *n = graph_add(g, CU_GRAPH_NODE_TYPE_KERNEL, dur, NULL);

	if (n == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (out != NULL)
		*out = (CUgraphNode)n;
	return CUDA_SUCCESS;
}

/* A graph launched into a capture becomes a child-graph node. */
CUresult
fc_graph_add_exec(struct fc_graph *g, CUgraphExec h, CUgraphNode *out)
{
	struct fc_exec *e = exec_of(h);
	struct fc_graph *child;
	struct fc_node *n;

	if ((child = graph_clone(e->shape)) == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((n = graph_add(g, CU_GRAPH_NODE_TYPE_GRAPH, 0, child)) == NULL) {
		fc_graph_free(child);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (out != NULL)
		*out = (CUgraphNode)n;
	return CUDA_SUCCESS;
}

CUresult
cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
	struct fc_graph *g;

	FC_ENTER(cuGraphCreate, t);
	if (phGraph == NULL || flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	if ((g = fc_graph_new()) == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*phGraph = (CUgraph)g;
	return CUDA_SUCCESS;
}

static CUresult
check_deps(const CUgraphNode *deps, size_t n)
{
	size_t i;

	if (n > 0 && deps == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	for (i = 0; i < n; i++)
		if (deps[i] == NULL ||
		    ((struct fc_node *)deps[i])->magic != FC_MAGIC_NODE)
			return CUDA_ERROR_INVALID_VALUE;
	return CUDA_SUCCESS;
}

/* The fields v1 and v2 kernel node parameters share. */
static CUresult
add_kernel(CUgraphNode *ph, CUgraph h, const CUgraphNode *deps, size_t ndeps,
    CUfunction f, void **kernelParams, void **extra)
{
	struct fc_graph *g = graph_of(h);
	CUresult rc;

	if (ph == NULL || g == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = check_deps(deps, ndeps)) != CUDA_SUCCESS)
		return rc;
	if (f == NULL || ((struct fc_func *)f)->magic != FC_MAGIC_FUNC)
		return CUDA_ERROR_INVALID_VALUE;
	return fc_graph_add_kernel(g, fc_kernel_ns(kernelParams, extra), ph);
}

CUresult
cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph,
    const CUgraphNode *dependencies, size_t numDependencies,
    const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
	FC_ENTER(cuGraphAddKernelNode, t);
	if (p == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	return add_kernel(phGraphNode, hGraph, dependencies, numDependencies,
	    p->func, p->kernelParams, p->extra);
}

CUresult
cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph,
    const CUgraphNode *dependencies, size_t numDependencies,
    const CUDA_KERNEL_NODE_PARAMS *p)
{
	FC_ENTER(cuGraphAddKernelNode_v2, t);
	if (p == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	return add_kernel(phGraphNode, hGraph, dependencies, numDependencies,
	    p->func, p->kernelParams, p->extra);
}

CUresult
cuGraphAddChildGraphNode(CUgraphNode *phGraphNode, CUgraph hGraph,
    const CUgraphNode *dependencies, size_t numDependencies, CUgraph childGraph)
{
	struct fc_graph *g = graph_of(hGraph), *child = graph_of(childGraph), *copy;
	struct fc_node *n;
	CUresult rc;

	FC_ENTER(cuGraphAddChildGraphNode, t);
	if (phGraphNode == NULL || g == NULL || child == NULL || g == child)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = check_deps(dependencies, numDependencies)) != CUDA_SUCCESS)
		return rc;
	if ((copy = graph_clone(child)) == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((n = graph_add(g, CU_GRAPH_NODE_TYPE_GRAPH, 0, copy)) == NULL) {
		fc_graph_free(copy);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*phGraphNode = (CUgraphNode)n;
	return CUDA_SUCCESS;
}

CUresult
cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
	struct fc_graph *g = graph_of(hGraph);
	size_t i;

	FC_ENTER(cuGraphGetNodes, t);
	if (g == NULL || numNodes == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if (nodes != NULL) {
		for (i = 0; i < *numNodes; i++)
			nodes[i] = i < g->n ? (CUgraphNode)g->nodes[i] : NULL;
	}
	if (nodes == NULL || *numNodes > g->n)
		*numNodes = g->n;
	return CUDA_SUCCESS;
}

CUresult
cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType *type)
{
	struct fc_node *n = (struct fc_node *)hNode;

	FC_ENTER(cuGraphNodeGetType, t);
	if (n == NULL || n->magic != FC_MAGIC_NODE || type == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	*type = n->type;
	return CUDA_SUCCESS;
}

/* The child graph node's own graph (CUDA: owned by the node, not to be
 * destroyed by the caller). */
CUresult
cuGraphChildGraphNodeGetGraph(CUgraphNode hNode, CUgraph *phGraph)
{
	struct fc_node *n = (struct fc_node *)hNode;

	FC_ENTER(cuGraphChildGraphNodeGetGraph, t);
	if (n == NULL || n->magic != FC_MAGIC_NODE || phGraph == NULL ||
	    n->type != CU_GRAPH_NODE_TYPE_GRAPH)
		return CUDA_ERROR_INVALID_VALUE;
	*phGraph = (CUgraph)n->child;
	return CUDA_SUCCESS;
}

static CUresult
instantiate(CUgraphExec *out, CUgraph h, unsigned long long flags)
{
	struct fc_graph *g = graph_of(h);
	struct fc_exec *e;

	if (out == NULL || g == NULL || (flags & ~0xfULL))
		return CUDA_ERROR_INVALID_VALUE;
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->shape = graph_clone(g)) == NULL) {
		free(e);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	e->magic = FC_MAGIC_EXEC;
	graph_sum(e->shape, &e->kernels, &e->total);
	*out = (CUgraphExec)e;
	return CUDA_SUCCESS;
}

static CUresult
instantiate_v1(CUgraphExec *out, CUgraph h, CUgraphNode *errNode, char *log,
    size_t logSize)
{
	if (errNode != NULL)
		*errNode = NULL;
	if (log != NULL && logSize > 0)
		log[0] = '\0';
	return instantiate(out, h, 0);
}

CUresult
cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph,
    CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
	FC_ENTER(cuGraphInstantiate, t);
	return instantiate_v1(phGraphExec, hGraph, phErrorNode, logBuffer,
	    bufferSize);
}

CUresult
cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
    CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
	FC_ENTER(cuGraphInstantiate_v2, t);
	return instantiate_v1(phGraphExec, hGraph, phErrorNode, logBuffer,
	    bufferSize);
}

CUresult
cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
    unsigned long long flags)
{
	FC_ENTER(cuGraphInstantiateWithFlags, t);
	return instantiate(phGraphExec, hGraph, flags);
}

static CUresult
instantiate_params(CUgraphExec *out, CUgraph h, CUDA_GRAPH_INSTANTIATE_PARAMS *p)
{
	CUresult rc;

	if (p == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	rc = instantiate(out, h, p->flags);
	p->hErrNode_out = NULL;
	p->result_out = rc == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS :
	    CUDA_GRAPH_INSTANTIATE_ERROR;
	return rc;
}

CUresult
cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
    CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
	FC_ENTER(cuGraphInstantiateWithParams, t);
	return instantiate_params(phGraphExec, hGraph, instantiateParams);
}

CUresult
cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
    CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
	FC_ENTER(cuGraphInstantiateWithParams_ptsz, t);
	return instantiate_params(phGraphExec, hGraph, instantiateParams);
}

static CUgraphExecUpdateResult
exec_update(struct fc_exec *e, struct fc_graph *g)
{
	struct fc_graph *shape;

	if (!same_shape(e->shape, g))
		return CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
	if ((shape = graph_clone(g)) == NULL)
		return CU_GRAPH_EXEC_UPDATE_ERROR;
	fc_graph_free(e->shape);
	e->shape = shape;
	e->kernels = 0;
	e->total = 0;
	graph_sum(shape, &e->kernels, &e->total);
	return CU_GRAPH_EXEC_UPDATE_SUCCESS;
}

CUresult
cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph,
    CUgraphNode *hErrorNode_out, CUgraphExecUpdateResult *updateResult_out)
{
	struct fc_exec *e = exec_of(hGraphExec);
	struct fc_graph *g = graph_of(hGraph);
	CUgraphExecUpdateResult r;

	FC_ENTER(cuGraphExecUpdate, t);
	if (e == NULL || g == NULL || hErrorNode_out == NULL ||
	    updateResult_out == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	r = exec_update(e, g);
	*hErrorNode_out = NULL;
	*updateResult_out = r;
	return r == CU_GRAPH_EXEC_UPDATE_SUCCESS ? CUDA_SUCCESS :
	    CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
}

CUresult
cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph,
    CUgraphExecUpdateResultInfo *resultInfo)
{
	struct fc_exec *e = exec_of(hGraphExec);
	struct fc_graph *g = graph_of(hGraph);
	CUgraphExecUpdateResult r;

	FC_ENTER(cuGraphExecUpdate_v2, t);
	if (e == NULL || g == NULL || resultInfo == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	r = exec_update(e, g);
	resultInfo->result = r;
	resultInfo->errorNode = NULL;
	resultInfo->errorFromNode = NULL;
	return r == CU_GRAPH_EXEC_UPDATE_SUCCESS ? CUDA_SUCCESS :
	    CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
}

static CUresult
graph_launch(struct fc_thread *t, CUgraphExec h, CUstream hs, int ptsz,
    enum fc_path path)
{
	struct fc_exec *e = exec_of(h);
	struct fc_capture *cap;
	struct fc_stream *s;
	CUresult rc;

	if (e == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_stream_get(t, hs, ptsz, &s)) != CUDA_SUCCESS)
		return rc;
	if (FC_UNLIKELY(atomic_load(&s->cap) != NULL)) {
		pthread_mutex_lock(&s->lock);
		if ((cap = atomic_load(&s->cap)) == NULL)
			rc = CUDA_ERROR_ILLEGAL_STATE; /* ended meanwhile */
		else if (atomic_load(&cap->invalidated))
			rc = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
		else
			rc = fc_graph_add_exec(cap->graph, h, NULL);
		pthread_mutex_unlock(&s->lock);
		if (rc == CUDA_SUCCESS) {
			FC_COUNT(t->launches[path]);
			FC_COUNT(t->graphs_captured);
		}
		return rc;
	}
	if (s->kind == FC_STREAM_LEGACY) {
		if ((rc = fc_capture_legacy_check(s)) != CUDA_SUCCESS)
			return rc;
		fc_stream_legacy_barrier(s);
	}
	if (e->total > 0)
		fc_stream_run(s, e->total);
	FC_COUNT(t->launches[path]);
	__atomic_store_n(&t->graph_kernels, t->graph_kernels + e->kernels,
	    __ATOMIC_RELAXED);
	return CUDA_SUCCESS;
}

CUresult
cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	FC_ENTER(cuGraphLaunch, t);
	return graph_launch(t, hGraphExec, hStream, 0, FC_GRAPH_LAUNCH);
}

CUresult
cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	FC_ENTER(cuGraphLaunch_ptsz, t);
	return graph_launch(t, hGraphExec, hStream, 1, FC_GRAPH_LAUNCH_PTSZ);
}

CUresult
cuGraphExecDestroy(CUgraphExec hGraphExec)
{
	struct fc_exec *e = exec_of(hGraphExec);

	FC_ENTER(cuGraphExecDestroy, t);
	if (e == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	e->magic = 0;
	fc_graph_free(e->shape);
	free(e);
	return CUDA_SUCCESS;
}

CUresult
cuGraphDestroy(CUgraph hGraph)
{
	struct fc_graph *g = graph_of(hGraph);

	FC_ENTER(cuGraphDestroy, t);
	if (g == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	fc_graph_free(g);
	return CUDA_SUCCESS;
}
