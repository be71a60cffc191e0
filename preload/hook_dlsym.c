/*
 * hook_dlsym.c — the dlsym override: how a CUDA runtime or framework that
 * dlopens libcuda.so.1 gets our wrappers (issue 5, "Interception").
 *
 * glibc decides what RTLD_NEXT means (and whose dlerror is set) from the
 * caller's return address. So dlsym itself is a few instructions of
 * assembly: it asks cu_dlsym_decide, and for RTLD_NEXT and every name we
 * do not hook it JUMPS into the real dlsym with the caller's arguments and
 * return address untouched — the real one sees the caller, not us. Only a
 * name we hook, looked up in another handle, gets an answer of ours: the
 * wrapper when the driver has that symbol, and the driver's own "not
 * found" (a lookup that fails the same way, so dlerror is set) when it
 * does not: a process without CUDA sees what it would have seen — the
 * same NULL, and a dlerror for the same name, though naming
 * libtollgate.so rather than the program (the default scope holds our
 * export, so the failing lookup has to be our own RTLD_NEXT one). Also
 * known: dlsym(RTLD_NEXT, "cuLaunchKernel") from the main program finds
 * our export even when no driver is loaded (its call answers
 * CUDA_ERROR_NOT_INITIALIZED).
 *
 * The real dlsym is cuda_real.c's cu_dlsym_real. Like the other hook_*.c
 * files this one stays out of the archive the unit tests link: a test
 * calling dlsym gets libc's.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "cushim.h"
#include "real.h"

#define CU_DLSYM_FORWARD ((void *)1)

/* Our answer, or CU_DLSYM_FORWARD: let the real dlsym answer the caller. */
__attribute__((visibility("hidden"), used)) void *
cu_dlsym_decide(void *handle, const char *name)
{
	int i;
	void *p;

	cu_dlsym_init();
	if (handle == RTLD_NEXT || (i = cu_fn_index(name)) < 0 ||
	    cu_wrapper(i) == NULL)
		return CU_DLSYM_FORWARD;
	/* From here the lookups are ours (the caller asked by handle or in
	 * the default scope, where the scope does not depend on who asks). */
	p = cu_dlsym_real(handle, name);
	if (p == NULL)
		return NULL; /* dlerror says why, as it would have */
	if (!shim_real_is_ours(p))
		return cu_real_adopt_row(i, p);
	/* The default scope found our export: the driver's, if loaded. */
	if (cu_real_find(i))
		return cu_wrapper(i);
	return cu_dlsym_real(RTLD_NEXT, name); /* NULL, with dlerror set */
}

#if defined(__x86_64__)
/* Stack: entry rsp = 8 mod 16; two pushes and 8 bytes make the call
 * aligned. The jump leaves the caller's return address on top. */
__asm__(
	".text\n"
	".globl dlsym\n"
	".type dlsym, @function\n"
	"dlsym:\n"
	"	.cfi_startproc\n"
	"	endbr64\n"
	"	push %rdi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	push %rsi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	sub $8, %rsp\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	call cu_dlsym_decide\n"
	"	add $8, %rsp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %rsi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %rdi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	cmp $1, %rax\n"
	"	jne 1f\n"
	"	jmp *cu_dlsym_real(%rip)\n"
	"1:	ret\n"
	"	.cfi_endproc\n"
	".size dlsym, .-dlsym\n");
#endif
