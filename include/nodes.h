/*
 * nodes.h - the inodes the kernel knows of, and their stable numbers.
 *
 * An inode number is a hash of what the node is (its type and the names on
 * its path), so the same path has the same number in every mount, after
 * every refresh and on every machine.  The table holds only nodes the kernel
 * has been told of (looked up and not yet forgotten), with their lookup
 * counts.
 *
 * The kernel keeps what it was told of for as long as it likes, so a tar of
 * a large tenant would grow the table with the tenant.  Leaf nodes (message
 * files, attachment directories and files) are therefore kept in least
 * recently used order and limited: beyond the limit, nodes_victims() names
 * the least recently used ones that are not open, and nodes_spill() moves
 * them to an on-disk table (spill.h), from which they come back when the
 * kernel asks about them again.  Without a spill, the caller asks the kernel
 * to drop them (a FORGET then frees them).  A node looked up again later
 * gets the same number.
 */
#ifndef TEAMSFS_NODES_H
#define TEAMSFS_NODES_H

#include <stddef.h>
#include <stdint.h>

#include "names.h"

struct spill;

enum node_type {
	NODE_ROOT = 1, /* / */
	NODE_LIST,     /* /users, /teams */
	NODE_OWNER,    /* /users/<user>, /teams/<team> */
	NODE_SCOPE,    /* /users/<user>/chats, /teams/<team>/channels */
	NODE_CONT,     /* .../<chat or channel> */
	NODE_MSG,      /* .../<message>.json */
	NODE_ATTDIR,   /* .../<message>.attachments */
	NODE_ATT,      /* .../<message>.attachments/<file> */
	NODE_BN_ROOT,  /* /by-name */
	NODE_BN_LIST,  /* /by-name/users, /by-name/teams */
	NODE_BN_OWNER, /* /by-name/users/<readable user> */
	NODE_BN_LINK,  /* /by-name/users/<readable user>/<readable chat> */
	NODE_TR_ROOT,  /* /transcripts */
	NODE_TR_LIST,  /* /transcripts/users, /transcripts/teams */
	NODE_TR_OWNER, /* /transcripts/users/<user> */
	NODE_TR_FILE,  /* /transcripts/users/<user>/<chat>.html (in cont) */
};

#define INO_ROOT 1
#define INO_USERS 2
#define INO_TEAMS 3

/* The names that say which node a path is (unused ones are NULL). */
struct path {
	enum node_type type;
	char kind; /* 'u' or 't'; 0 for the root and /by-name */
	const char *owner, *cont;
	const char *msg; /* message file or attachments directory name */
	const char *att; /* attachment file name */
};

/* A path with room for its names, filled by nodes_get(). */
struct node_path {
	struct path p;
	char names[4 * (NAME_MAX_BYTES + 1)];
};

/* A leaf node beyond the limit (nodes_victims()). */
struct node_victim {
	uint64_t parent; /* inode number of its directory */
	uint64_t ino;
	char name[256]; /* its name in that directory */
};

/*
 * Sets up the table with the root and the two list nodes, keeping at most
 * @max_leaves leaf nodes that are not open before offering the least
 * recently used as victims (0: no limit).  With @spill, victims go there
 * (nodes_spill()); without, the kernel must be asked to drop them.  Returns
 * 0 or -ENOMEM.
 */
int nodes_init(size_t max_leaves, struct spill *spill);

/* Frees every node. */
void nodes_destroy(void);

/* Returns the inode number of the node @p describes. */
uint64_t nodes_ino(const struct path *p);

/*
 * Fills @np with the path of node @ino, from the table or the spill, and
 * marks it as just used.  Returns 0, or -ESTALE if the kernel was never told
 * of @ino or forgot it.
 */
int nodes_get(uint64_t ino, struct node_path *np);

/* Returns whether the kernel holds node @ino (without marking it used). */
int nodes_known(uint64_t ino);

/*
 * Finds or creates the node @p describes, counts one more kernel reference
 * to it and returns its inode number, or 0 when out of memory or when
 * another node already has the same number (logged).
 */
uint64_t nodes_ref(const struct path *p);

/* Drops @n kernel references to node @ino, freeing it at zero. */
void nodes_forget(uint64_t ino, uint64_t n);

/* A FORGET of the kernel's: a node and how many references it drops. */
struct node_forget {
	uint64_t ino, nlookup;
};

/* nodes_forget() for each of @n nodes, with one write to the spill. */
void nodes_forget_many(const struct node_forget *f, size_t n);

/* Node @ino was opened: it is not a victim until as often closed. */
void nodes_open(uint64_t ino);

/* Node @ino was closed (see nodes_open()). */
void nodes_close(uint64_t ino);

/*
 * Waits until more leaf nodes than the limit are held, then fills @v with
 * up to @max of the least recently used, beyond the limit, and returns how
 * many.  They are no longer counted against the limit; a victim looked up
 * again is counted again.  Returns 0 at once after nodes_stop_victims().
 */
size_t nodes_victims(struct node_victim *v, size_t max);

/*
 * Writes the @n victims in @v to the spill (number, path, lookup count,
 * version) and frees those not used, opened or changed meanwhile: the
 * kernel keeps them, and nodes_get(), nodes_ref() and nodes_forget() find
 * them in the spill.  A record lasts until the kernel forgets its node.
 * Returns 0 or -errno (the victims stay; ask the kernel to drop them).
 */
int nodes_spill(const struct node_victim *v, size_t n);

/* Makes nodes_victims() return 0, now and from now on. */
void nodes_stop_victims(void);

/*
 * The generation of a regular file with @size bytes last modified at
 * @mtime_ns: never 0, 32 bits (what the kernel keeps).  A file a refresh
 * changes keeps its inode number but gets another generation, so the kernel
 * takes it for a new file at the next lookup, as it would a file replaced by
 * rename(), and the old one's remaining readers get an error instead of a
 * mixture of the two versions.
 */
uint32_t nodes_generation(uint64_t size, int64_t mtime_ns);

/* Records that the kernel was last given generation @gen of node @ino. */
void nodes_set_gen(uint64_t ino, uint32_t gen);

/* Returns what nodes_set_gen() last recorded for node @ino, or 0. */
uint32_t nodes_gen(uint64_t ino);

/*
 * The file of node @ino changed, and the kernel was told (its entry and
 * pages dropped): until the kernel looks it up again, the old version's
 * readers are answered -ESTALE by nodes_check_gen().
 */
void nodes_changed(uint64_t ino);

/*
 * Checks the generation @gen that file @ino has now against the one the
 * kernel was given.  Returns 0 if they are the same, or if the kernel was
 * not told of the change (then it is given this one: what it reads next is
 * the new version), and -ESTALE after nodes_changed().
 */
int nodes_check_gen(uint64_t ino, uint32_t gen);

#endif
