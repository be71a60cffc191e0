/*
 * crc32.h — CRC-32 (IEEE 802.3, reflected 0xEDB88320; the value zlib's
 * crc32() gives) for spool records. zlib is not linked into the shim: it
 * would be one more library loaded into every host process. Bitwise, no
 * table: the spool is the slow path (each append is fdatasync'ed anyway).
 */
#ifndef SHIM_CRC32_H
#define SHIM_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t shim_crc32(const void *p, size_t n);

#endif
