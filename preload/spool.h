/*
 * spool.h — records the daemon did not acknowledge, kept on disk.
 *
 * Directory: tg_path_spool_dir() (per uid), created 0700; refused when it
 * is not ours or is group/world-writable. One file per process instance,
 * "PID-PREFIX.spool" (PREFIX = the record-id prefix, new after fork;
 * "PID-PREFIX.N.spool" when the instance had to start a new file: the
 * host closed the old one's fd, or it was set aside), created as
 * ".NAME.tmp", flock(LOCK_EX)'ed, then renamed, so a replayer never sees a
 * live process's file unlocked. The lock is held for the file's life in
 * the process: replayers skip locked files. O_APPEND|O_CLOEXEC, moved to a
 * high fd and checked by identity before each use (fdid.h); every append
 * is one write() + fdatasync() with SIGXFSZ blocked (sigguard.h): when
 * shim_spool_append() returns 0 the record survives a crash.
 *
 * The directory holds at most SPOOL_MAX_BYTES (all files in it, counted
 * when a file is opened and again, at most once a second, when the cap is
 * hit); past it a record is dropped and counted, with one line at most
 * once a minute.
 *
 * Names carry replay progress: "BASE+OFF.spool" says the first OFF bytes
 * were acknowledged (a replayer that stopped part way renames the file so,
 * and a process that exits with a partly acknowledged file likewise). A
 * file with a record that cannot be replayed is renamed "NAME.bad": never
 * replayed again automatically.
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
#define SPOOL_BAD_SUFFIX ".bad"
#define SPOOL_MAX_BYTES (64LL << 20)
#define SPOOL_NAME_MAX 96

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
 * (the file must be set aside). *why says what. */
#define SPOOL_TORN (-1)
#define SPOOL_BAD (-2)
int shim_spool_read(int fd, off_t *off, struct tg_record *rec,
    const char **why);

/* The spool directory, created and checked. 0 or -1 (said once). */
int shim_spool_dir(char *buf, size_t size);

/* Bytes of all regular files in dir. */
off_t shim_spool_dir_bytes(const char *dir);

/* 1 when name is a spool file to replay (not hidden, not set aside). */
int shim_spool_is_spool_name(const char *name);

/* The acknowledged offset a name carries ("+OFF.spool"), or 0. */
off_t shim_spool_name_offset(const char *name);

/* name with progress off: "BASE+OFF.spool". 0, or -1 when it does not fit. */
int shim_spool_progress_name(const char *name, off_t off, char *out,
    size_t size);

/* Append to this process instance's file. 0 on disk; -1 not (said: a
 * full spool, a write error). */
int shim_spool_append(uint64_t gen, const struct tg_record *rec);

/* This instance's file for replay. */
struct spool_view {
	int fd;          /* a duplicate for the replayer to close; -1: none */
	ino_t ino;       /* which file it is */
	off_t from, to;  /* the unacknowledged range */
	char name[SPOOL_NAME_MAX];
};
void shim_spool_own(uint64_t gen, struct spool_view *v);

/* Everything of file ino before upto is acknowledged: empty the file if
 * nothing was appended since, else remember the offset. */
void shim_spool_own_acked(ino_t ino, off_t upto);

/* File ino has a record that cannot be replayed after upto: rename it
 * NAME.bad (one line with why), carry the records appended after `to`
 * (not replayed yet) over to a new file. */
void shim_spool_own_set_aside(ino_t ino, off_t to, const char *why);

/* 1 when something was appended since the last complete replay. */
int shim_spool_dirty(void);
void shim_spool_set_dirty(int v);

/* At exit: remove our file if everything in it was acknowledged, else
 * record the acknowledged part in its name. */
void shim_spool_exit(void);

void shim_spool_atfork_prepare(void);
void shim_spool_atfork_parent(void);
void shim_spool_atfork_child(void);

#endif
