/*
 * nodes.h - the inodes the kernel knows of, and their stable numbers.
 *
 * An inode number is a hash of what the node is (its type and the names on
 * its path), so the same path has the same number in every mount, after
 * every refresh and on every machine.  The table holds only nodes the kernel
 * has been told of (looked up and not yet forgotten), with their lookup
 * counts, so its size follows the kernel's inode cache, not the tenant.
 */
#ifndef TEAMSFS_NODES_H
#define TEAMSFS_NODES_H

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

struct node {
	uint64_t ino;
	enum node_type type;
	char kind;	   /* 'u' or 't'; 0 for the root */
	const char *owner; /* names on the path, or NULL below the type */
	const char *cont;
	const char *msg; /* message file or attachments directory name */
	const char *att; /* attachment file name */
	uint64_t sh;	 /* cache_scope_hash() of the owner, if any */
	uint64_t nlookup;
	struct node *hnext;
	char names[];
};

/* Sets up the table with the root and the two list nodes.  0 or -ENOMEM. */
int nodes_init(void);

/* Frees every node. */
void nodes_destroy(void);

/* Returns the inode number the node described by the arguments has. */
uint64_t nodes_ino(enum node_type type, char kind, const char *owner,
		   const char *cont, const char *msg, const char *att);

/* Returns the node numbered @ino, or NULL if the kernel was never told. */
struct node *nodes_get(uint64_t ino);

/*
 * Finds or creates the node described by the arguments and counts one more
 * kernel reference to it.  Returns NULL when out of memory or when another
 * node already has the same number (logged).
 */
struct node *nodes_ref(enum node_type type, char kind, const char *owner,
		       const char *cont, const char *msg, const char *att);

/* Drops @n kernel references to node @ino, freeing it at zero. */
void nodes_forget(uint64_t ino, uint64_t n);

#endif
