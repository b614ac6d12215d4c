/*
 * cache.h - the LMDB cache: everything teamsfs has learnt from Graph, so a
 * later look and a later mount need no network.
 *
 * One LMDB environment (data.mdb, mode 0600) in the cache directory holds
 * these databases; names are file names as made by names.h, scope hashes are
 * hash_bytes() of "<kind>/<owner name>" stored big-endian:
 *
 *   meta     "schema"                        -> schema version (u32): 2
 *            "created"                       -> creation time (ns)
 *   lists    <kind> <name>                   -> Graph id, displayName, label
 *            <kind>                          -> list state (complete, time)
 *   scopes   <kind> <owner name>             -> scope record + next link
 *   conts    <scope hash:8> <container name> -> container record + Graph id
 *   messages <container key:8> <message name>
 *                                            -> mtime, file size, body number
 *   bodies   <body number:8>                 -> the message, compact JSON
 *   members  <scope hash:8> <container key:8> <message name>
 *                                            -> (empty): the scope holds it
 *   attachdirs <container key:8> <attachments dir name>
 *                                            -> mtime + message name
 *   attachments <container key:8> <message name hash:8> <name>
 *                                            -> attachment record + strings
 *   names    <scope hash:8> <readable name>  -> container name (by-name)
 *            <scope hash:8> NUL <container>  -> what Graph said of it (JSON)
 *            <scope hash:8>                  -> when the names were fetched
 *
 * <kind> is 'u' for users and their chats, 't' for teams and their channels.
 * The container key of a chat or channel whose id is a thread id ("19:" ...
 * "@" ...) is hash_bytes() of its name: such an id names one conversation in
 * the whole tenant, so a group chat exported under each of its members is
 * stored once, and "members" says which scopes hold which of its messages
 * (a member who joined late may hold fewer).  Other container ids
 * ("48:notes", every user's own notes under one id) and "%nochat" are keyed
 * per scope: hash of the scope hash and the name.  Scopes and containers
 * keep their own counts.
 *
 * A message is kept in the compact form (render.h) under a body number
 * that only grows, so bodies are appended and their pages are full; its
 * record holds the size of the file it is served as, so st_size is exact
 * without rendering, and a read renders the pretty bytes from the compact
 * form.  Records are fixed little structs copied in and out, so unaligned
 * LMDB values are never dereferenced.
 *
 * Schema 1 (one rendered copy per scope) is converted when opened, in one
 * write; a cache of a later schema is refused.
 */
#ifndef TEAMSFS_CACHE_H
#define TEAMSFS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "attach.h"

struct cache;
struct cache_txn;

/* State of a list (users or teams) as far as the cache knows it. */
struct list_state {
	int complete;	    /* the whole list has been stored */
	int64_t fetched_ns; /* when it was completed */
	uint32_t count;
};

/* A users/teams list entry. */
struct list_entry {
	char *id;      /* Graph id, malloc'd */
	char *display; /* displayName or NULL, malloc'd */
	char *label;   /* readable name (UPN or displayName) or NULL */
};

#define SCOPE_COMPLETE 0x1u

/* What the cache knows of one scope: a user's chats or a team's channels. */
struct scope_rec {
	uint32_t flags;	      /* SCOPE_COMPLETE */
	uint32_t containers;  /* number of chats or channels stored */
	uint64_t messages;    /* number of messages stored */
	int64_t newest_ns;    /* newest lastModifiedDateTime stored */
	int64_t completed_ns; /* when the last crawl completed, or 0 */
	char *next_link;      /* link to resume from, malloc'd, or NULL */
};

/* One chat or channel of a scope. */
struct cont_rec {
	int64_t newest_ns;
	uint64_t messages;
};

/* The stat-relevant facts of a stored message file. */
struct msg_stat {
	int64_t mtime_ns;
	uint64_t size;
};

/*
 * Opens (creating if needed) the cache in directory @dir, which must exist.
 * Returns 0 and sets *@out, or a negative errno after logging why.
 */
int cache_open(const char *dir, struct cache **out);

/* Closes the cache; every transaction must have ended. */
void cache_close(struct cache *c);

/*
 * Returns when the cache was created (stable ctime for directories whose
 * contents are lists fetched later).
 */
int64_t cache_created(struct cache *c);

/* Returns the hash that keys scope @owner of @kind in conts and msgs. */
uint64_t cache_scope_hash(char kind, const char *owner);

/*
 * Starts a write transaction.  Only one is open at a time in the whole
 * environment; others wait.  Returns 0 or a negative errno.
 */
int cache_write_begin(struct cache *c, struct cache_txn **out);

/* Commits @t.  Returns 0 or a negative errno (the changes are then lost). */
int cache_commit(struct cache_txn *t);

/* Abandons @t and every change made in it. */
void cache_abort(struct cache_txn *t);

/* Stores list entry @name of @kind.  Returns 0 or a negative errno. */
int cache_list_put(struct cache_txn *t, char kind, const char *name,
		   const char *id, const char *display, const char *label);

/* Marks list @kind complete with @count entries at time @now_ns. */
int cache_list_complete(struct cache_txn *t, char kind, uint32_t count,
			int64_t now_ns);

/* Reads the state of list @kind (all zero when unknown).  Returns 0. */
int cache_list_state(struct cache *c, char kind, struct list_state *st);

/*
 * Looks up list entry @name of @kind.  Returns 0 and fills @e (free with
 * cache_list_entry_free), -ENOENT, or another negative errno.
 */
int cache_list_get(struct cache *c, char kind, const char *name,
		   struct list_entry *e);

void cache_list_entry_free(struct list_entry *e);

/* Called for each entry of a listing, in name order; nonzero stops. */
typedef int (*cache_name_fn)(void *ctx, const char *name, size_t len,
			     const void *rec);

/* Calls @fn for each entry of list @kind (@rec is NULL). Returns 0/-errno */
int cache_list_foreach(struct cache *c, char kind, cache_name_fn fn, void *ctx);

/*
 * Reads the scope record of @owner of @kind into @r (all zero when the scope
 * was never crawled; free r->next_link).  Returns 0 or a negative errno.
 */
int cache_scope_get(struct cache *c, char kind, const char *owner,
		    struct scope_rec *r);

/*
 * Calls @fn for each scope the cache knows, with its kind as the first
 * byte of the name and @rec a struct scope_rec * (next_link not set).
 */
int cache_scope_foreach(struct cache *c, cache_name_fn fn, void *ctx);

/* Fills @bytes with the size of the cache's data file. */
int cache_size(struct cache *c, long long *bytes);

/* The same inside write transaction @t. */
int cache_scope_get_txn(struct cache_txn *t, char kind, const char *owner,
			struct scope_rec *r);

/* Writes the scope record @r of @owner of @kind in @t. */
int cache_scope_put(struct cache_txn *t, char kind, const char *owner,
		    const struct scope_rec *r);

/* What cache_msg_put() did. */
#define CACHE_MSG_NEW 0x1u	/* the scope did not hold the message */
#define CACHE_MSG_STORED 0x2u	/* its bytes were written: new or newer */
#define CACHE_MSG_FIRST 0x4u	/* no scope held it before */
#define CACHE_MSG_NEW_CONT 0x8u /* the container is new in the scope */

/*
 * Stores one message of scope @sh in @t: container @cont (its Graph id
 * @cont_id, may be NULL), message name @name, modification time @mtime_ns
 * and compact JSON @json of @len (render.h).  A stored copy with a newer
 * mtime, or the same mtime and bytes, is kept, whichever scope stored it.
 * Sets *@done to CACHE_MSG_* flags; the scope's container record changes
 * when the scope did not hold the message or its bytes were written.
 * Returns 0 or a negative errno.
 */
int cache_msg_put(struct cache_txn *t, uint64_t sh, const char *cont,
		  const char *cont_id, const char *name, int64_t mtime_ns,
		  const char *json, size_t len, unsigned *done);

/* Reads container @cont of scope @sh.  Returns 0, -ENOENT or -errno. */
int cache_cont_get(struct cache *c, uint64_t sh, const char *cont,
		   struct cont_rec *r);

/* Copies the Graph id of container @cont (malloc'd; NULL if unknown). */
int cache_cont_id(struct cache *c, uint64_t sh, const char *cont, char **id);

/*
 * Counts the messages stored into @count: a message several scopes hold
 * counts once.
 */
int cache_msg_count(struct cache *c, unsigned long long *count);

/* Calls @fn for each container of scope @sh (@rec: struct cont_rec *). */
int cache_cont_foreach(struct cache *c, uint64_t sh, cache_name_fn fn,
		       void *ctx);

/* Reads size and mtime of message @name.  Returns 0, -ENOENT or -errno. */
int cache_msg_stat(struct cache *c, uint64_t sh, const char *cont,
		   const char *name, struct msg_stat *st);

/*
 * Copies the file bytes of message @name into a malloc'd, NUL-terminated
 * buffer stored in *@data with its length in *@len.  Returns 0, -ENOENT or
 * a negative errno.
 */
int cache_msg_read(struct cache *c, uint64_t sh, const char *cont,
		   const char *name, char **data, size_t *len);

/*
 * Copies message @name as stored, JSON text that parses to what its file
 * holds (usually the compact form, cheaper to parse), like
 * cache_msg_read().
 */
int cache_msg_json(struct cache *c, uint64_t sh, const char *cont,
		   const char *name, char **data, size_t *len);

/*
 * Calls @fn for each message of container @cont of scope @sh, in name order
 * (@rec: struct msg_stat *).  Returns 0 or a negative errno.
 */
int cache_msg_foreach(struct cache *c, uint64_t sh, const char *cont,
		      cache_name_fn fn, void *ctx);

/* What the cache knows of one attachment file. */
struct att_rec {
	int kind;	  /* enum att_kind */
	int64_t mtime_ns; /* its own, once known, else the message's */
	int64_t size;	  /* -1 until known */
	char *source;	  /* malloc'd by cache_att_get, else NULL */
	char *content_type;
	char *id;
};

/*
 * Replaces the attachments of message @msg (file name) in container @cont
 * of scope @sh by the @n at @atts, listed in directory @dir (whose mtime
 * is @mtime_ns); with @n 0, removes the directory.  Returns 0 or -errno.
 */
int cache_att_replace(struct cache_txn *t, uint64_t sh, const char *cont,
		      const char *msg, const char *dir, const struct att *atts,
		      size_t n, int64_t mtime_ns);

/*
 * Finds attachments directory @dir of container @cont: copies the name of
 * its message into @msg (NAME_MAX_BYTES + 1 bytes) and its mtime into
 * @mtime_ns.  Returns 0, -ENOENT or -errno.
 */
int cache_attdir_get(struct cache *c, uint64_t sh, const char *cont,
		     const char *dir, char *msg, int64_t *mtime_ns);

/* Calls @fn for each attachments directory of @cont (@rec: int64_t *mtime) */
int cache_attdir_foreach(struct cache *c, uint64_t sh, const char *cont,
			 cache_name_fn fn, void *ctx);

/*
 * Reads attachment @name of message @msg into @r (free the strings with
 * cache_att_rec_free).  Returns 0, -ENOENT or -errno.
 */
int cache_att_get(struct cache *c, uint64_t sh, const char *cont,
		  const char *msg, const char *name, struct att_rec *r);

void cache_att_rec_free(struct att_rec *r);

/* Copies the bytes of inline attachment @name, like cache_msg_read(). */
int cache_att_read(struct cache *c, uint64_t sh, const char *cont,
		   const char *msg, const char *name, char **data, size_t *len);

/*
 * Records the size, mtime and (unless NULL) content type Graph gave for
 * attachment @name.
 */
int cache_att_set_meta(struct cache *c, uint64_t sh, const char *cont,
		       const char *msg, const char *name, int64_t size,
		       int64_t mtime_ns, const char *content_type);

/* Calls @fn for each attachment of @msg (@rec: struct att_rec *, no strings) */
int cache_att_foreach(struct cache *c, uint64_t sh, const char *cont,
		      const char *msg, cache_name_fn fn, void *ctx);

/*
 * Replaces the readable names of scope @sh's chats or channels by the @n
 * pairs (@readable[i] -> container file name @cont[i]), with what Graph
 * said of each container as a JSON text @meta[i] (may be NULL), fetched at
 * @now_ns.  Returns 0 or -errno.
 */
int cache_names_replace(struct cache *c, uint64_t sh, char *const *readable,
			char *const *cont, char *const *meta, size_t n,
			int64_t now_ns);

/* Copies what Graph said of container @cont (malloc'd JSON text). */
int cache_names_meta(struct cache *c, uint64_t sh, const char *cont,
		     char **meta);

/* When the names of @sh were fetched: 0, or -ENOENT if never. */
int cache_names_state(struct cache *c, uint64_t sh, int64_t *fetched_ns);

/* Copies the container name for @readable into @cont (256 bytes). */
int cache_names_get(struct cache *c, uint64_t sh, const char *readable,
		    char *cont);

/* Calls @fn for each readable name of @sh (@rec: the container name, a
 * NUL-terminated string). */
int cache_names_foreach(struct cache *c, uint64_t sh, cache_name_fn fn,
			void *ctx);

#endif
