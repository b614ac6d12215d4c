/*
 * hash.h - the 64-bit hash behind stable inode numbers, cache keys and the
 * suffix of shortened names.  It must never change: inode numbers and cache
 * keys on disk depend on it.  FNV-1a over the bytes, then a 64-bit finalizer
 * so that similar inputs spread over all bits.
 */
#ifndef TEAMSFS_HASH_H
#define TEAMSFS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Continues a hash @h over @len bytes at @data; start with HASH_SEED. */
static inline uint64_t hash_update(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Mixes the running FNV state @h into the final hash value. */
static inline uint64_t hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#define HASH_SEED 0xcbf29ce484222325ULL

/* Returns the hash of @len bytes at @data. */
static inline uint64_t hash_bytes(const void *data, size_t len)
{
	return hash_final(hash_update(HASH_SEED, data, len));
}

#endif
