/*
 * instance.h — which process we are: fork detection and record ids.
 *
 * A MADV_WIPEONFORK page holds the word "registered in this process": the
 * kernel zeroes it in a fork child (fork, clone without CLONE_VM; vfork and
 * posix_spawn children share our memory and exec, so they need nothing), so
 * one load tells a child from its parent even when the fork bypassed
 * pthread_atfork (a raw clone). The first call in a new process draws a new
 * 8-byte record-id prefix (getrandom) and bumps the generation; the client
 * and the spool compare their generation with it and drop what they
 * inherited. Record id = prefix (8) + per-process counter (8, big-endian).
 */
#ifndef SHIM_INSTANCE_H
#define SHIM_INSTANCE_H

#include <stdint.h>

void shim_instance_init(void);

/* Detect a new process; returns the current generation (never 0). */
uint64_t shim_instance_sync(void);

void shim_instance_new_id(uint8_t id[16]);
uint64_t shim_instance_new_admit_id(void);

/* The prefix as 16 hex digits + NUL (spool file names). */
void shim_instance_prefix_hex(char out[17]);

/* pthread_atfork parts (fork.c calls them). */
void shim_instance_lock(void);
void shim_instance_unlock(void);
void shim_instance_child(void);

#endif
