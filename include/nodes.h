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
 * the least recently used ones that are not open, for the caller to ask the
 * kernel to drop (a FORGET then frees them).  A node looked up again later
 * gets the same number.
 */
#ifndef TEAMSFS_NODES_H
#define TEAMSFS_NODES_H

#include <stddef.h>
#include <stdint.h>

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

/* A leaf node the kernel should be asked to drop (nodes_victims()). */
struct node_victim {
	uint64_t parent; /* inode number of its directory */
	uint64_t ino;
	char name[256]; /* its name in that directory */
};

/*
 * Sets up the table with the root and the two list nodes, keeping at most
 * @max_leaves leaf nodes that are not open before offering the least
 * recently used as victims (0: no limit).  Returns 0 or -ENOMEM.
 */
int nodes_init(size_t max_leaves);

/* Frees every node. */
void nodes_destroy(void);

/* Returns the inode number of the node @p describes. */
uint64_t nodes_ino(const struct path *p);

/*
 * Fills @p with the path of node @ino (pointing into the node, which stays
 * valid while the kernel holds the node, as during a request on it) and
 * marks it as just used.  Returns 0, or -ESTALE if the kernel was never told
 * of @ino or forgot it.
 */
int nodes_get(uint64_t ino, struct path *p);

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

/* Makes nodes_victims() return 0, now and from now on. */
void nodes_stop_victims(void);

#endif
