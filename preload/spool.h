/*
 * spool.h — records the daemon did not acknowledge, kept on disk.
 *
 * Directory: tg_path_spool_dir() (per uid), created 0700; refused when it
 * is not ours or is group/world-writable. One file per process instance,
 * "PID-PREFIX.spool" (PREFIX = the record-id prefix, new after fork),
 * created as ".NAME.tmp", flock(LOCK_EX)'ed, then renamed, so a replayer
 * never sees a live process's file unlocked. The lock is held for the
 * process's life: replayers skip locked files. O_APPEND|O_CLOEXEC;
 * every append is one write() + fdatasync(): when shim_spool_append()
 * returns 0 the record survives a crash.
 *
 * File format: records, each struct spool_hdr + payload. Version 1 payload
 * is a struct tg_record of protocol version 1, already in replay form
 * (TG_REC_REPLAYED, pid/exe/run/tags filled). crc = CRC-32 of the payload;
 * a torn write (crash mid-append) shows as a short or bad last record.
 */
#ifndef SHIM_SPOOL_H
#define SHIM_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define SPOOL_MAGIC 0x50534754u /* "TGSP" little-endian */
#define SPOOL_VERSION 1
#define SPOOL_SUFFIX ".spool"

struct spool_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_len;  /* sizeof(struct spool_hdr) */
	uint32_t len;      /* payload bytes */
	uint32_t crc;      /* CRC-32 of the payload */
};

#define SPOOL_REC_SIZE (sizeof(struct spool_hdr) + sizeof(struct tg_record))

/* Encode rec into buf (SPOOL_REC_SIZE bytes). */
void shim_spool_encode(const struct tg_record *rec, void *buf);

/* Read the record at *off. 0: read, *off advanced; 1: clean end of file;
 * SPOOL_TORN: the last record is incomplete or bad (a torn write);
 * SPOOL_BAD: a bad record before the end, or a version we do not know
 * (the file must be left alone). *why says what. */
#define SPOOL_TORN (-1)
#define SPOOL_BAD (-2)
int shim_spool_read(int fd, off_t *off, struct tg_record *rec,
    const char **why);

/* The spool directory, created and checked. 0 or -1 (said once). */
int shim_spool_dir(char *buf, size_t size);

/* Append to this process instance's file. 0 on disk, -1 not (said). */
int shim_spool_append(uint64_t gen, const struct tg_record *rec);

/* This instance's file for replay: fd (-1: none), the unacknowledged
 * range [*from, *to), and its name (to skip it in the directory scan). */
int shim_spool_own(uint64_t gen, off_t *from, off_t *to, char *name,
    size_t size);
/* Everything before upto is acknowledged: empty the file if nothing was
 * appended since, else remember the offset. */
void shim_spool_own_acked(off_t upto);

/* 1 when something was appended since the last complete replay. */
int shim_spool_dirty(void);
void shim_spool_set_dirty(int v);

/* At exit: remove our file if everything in it was acknowledged. */
void shim_spool_exit(void);

void shim_spool_atfork_prepare(void);
void shim_spool_atfork_parent(void);
void shim_spool_atfork_child(void);

#endif
