/*
 * tree.h - what each path of the mount is, and what it holds:
 *
 *   /                                      NODE_ROOT
 *   /users, /teams                         NODE_LIST
 *   /users/<user>, /teams/<team>           NODE_OWNER
 *   .../chats, .../channels                NODE_SCOPE   (crawled on entry)
 *   .../<chat or channel>                  NODE_CONT
 *   .../<message>.json                     NODE_MSG
 *   .../<message>.attachments              NODE_ATTDIR
 *   .../<message>.attachments/<file>       NODE_ATT
 *   /by-name, /by-name/users, /by-name/teams,
 *   /by-name/users/<name>/<chat name>      NODE_BN_* (see byname.h)
 *   /transcripts, /transcripts/users, /transcripts/users/<user>,
 *   /transcripts/users/<user>/<chat>.html  NODE_TR_* (see transcript.h)
 *
 * The FUSE operations (fs.c) ask this module; it answers from the cache and
 * starts crawls, metadata calls and downloads where the answer needs them.
 * Functions that may wait for the network take a cancel function, so an
 * interrupted caller stops waiting at once.
 */
#ifndef TEAMSFS_TREE_H
#define TEAMSFS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "jobs.h"
#include "nodes.h"

struct byname;
struct cache;
struct crawler;
struct fetcher;
struct graph;
struct opts;
struct transcripts;
struct tree;

/*
 * One entry of a directory listing: the attributes that are not the same
 * for every file (a third of a struct stat: a listing of a large chat is
 * held while the directory is open).
 */
struct listing_entry {
	uint64_t ino; /* 0: attributes unknown without a call */
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	uint32_t mode, nlink;
	uint32_t name_off; /* into listing.names */
};

struct listing {
	struct listing_entry *ents;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
};

/*
 * Creates the tree over the given parts (none owned; @o must outlive it).
 * Returns 0 or -errno.
 */
int tree_new(struct cache *c, struct crawler *cr, struct fetcher *fe,
	     struct byname *bn, struct transcripts *tr, struct graph *g,
	     const struct opts *o, struct tree **out);

void tree_free(struct tree *t);

/*
 * Fills @child with the path of entry @name of directory @dir (pointing
 * into @dir and @name).  Returns 0 or -ENOTDIR.
 */
int tree_child(const struct path *dir, const char *name, struct path *child);

/* Returns the inode number of @p. */
uint64_t tree_ino(const struct path *p);

/*
 * Checks that @p exists, crawling its scope first if needed, and fills
 * @st; *@settled is cleared when the attributes will change by themselves
 * (before a crawl completes), so the kernel should not cache them.
 * Returns 0, -ENOENT, or the -errno of a failed crawl or metadata call.
 */
int tree_stat(struct tree *t, const struct path *p, struct stat *st,
	      int *settled, jobs_cancel_fn cancel, void *arg);

/*
 * What opening directory @p does before any listing: the first look inside
 * a list or a scope crawls it, and a later one starts a refresh when due.
 * Returns 0 or -errno.
 */
int tree_opendir(struct tree *t, const struct path *p, jobs_cancel_fn cancel,
		 void *arg);

/*
 * Lists directory @p into @l (empty on entry; free with tree_listing_free),
 * crawling its scope first if needed.  Returns 0 or -errno.
 */
int tree_list(struct tree *t, const struct path *p, struct listing *l,
	      jobs_cancel_fn cancel, void *arg);

void tree_listing_free(struct listing *l);

/* Fills @st with the attributes of listing entry @e. */
void tree_listing_stat(const struct tree *t, const struct listing_entry *e,
		       struct stat *st);

/*
 * Refreshes what @p lies in and waits: its scope (also through /by-name),
 * or at the root and the lists, the users and teams lists, making every
 * scope due.  Returns 0 or -errno.
 */
int tree_refresh(struct tree *t, const struct path *p, jobs_cancel_fn cancel,
		 void *arg);

/*
 * An open file: its bytes in memory, a download, or a rendered transcript
 * to read from.
 */
struct tree_file {
	char *data;
	size_t len;
	struct fetch_file *fetch;
	int fd; /* the transcript's file, or -1 */
	/* For files a refresh may change (messages, transcripts): */
	int changes;   /* nonzero for those */
	uint64_t size; /* what was opened */
	int64_t mtime_ns;
};

/*
 * Opens message or attachment @p for reading.  Returns 0 or -errno
 * (-EISDIR for directories).
 */
int tree_open(struct tree *t, const struct path *p, struct tree_file *f,
	      jobs_cancel_fn cancel, void *arg);

/* Reads like pread(); waits for downloading bytes.  Returns bytes or -errno */
ssize_t tree_read(struct tree_file *f, char *buf, size_t size, off_t off,
		  jobs_cancel_fn cancel, void *arg);

void tree_close(struct tree_file *f);

/*
 * Copies extended attribute @name of @p into @buf of @size (0: just say the
 * length), or with @name NULL the NUL-separated list of names.  Returns the
 * length, -ENODATA (a user.* name @p does not have), -EOPNOTSUPP (a name
 * outside the user namespace: security labels, ACLs), -ERANGE or -errno.
 */
ssize_t tree_xattr(struct tree *t, const struct path *p, const char *name,
		   char *buf, size_t size);

/*
 * Writes the target of symbolic link @p into @buf of @size bytes.
 * Returns 0 or -errno.
 */
int tree_readlink(struct tree *t, const struct path *p, char *buf, size_t size,
		  jobs_cancel_fn cancel, void *arg);

/* Fills @sv: names up to 255 bytes, files = messages stored (a chat held
 * by several scopes counts once), blocks = the cache's size. */
void tree_statfs(struct tree *t, struct statvfs *sv);

#endif
