/*
 * fs.h - the FUSE side: the low-level operations that turn the tree
 *
 *   /users/<user>/chats/<chat>/<message>.json
 *   /teams/<team>/channels/<channel>/<message>.json
 *
 * (and the attachment files beside each message) into questions for the
 * tree (tree.h).  Everything that would write answers EROFS.
 */
#ifndef TEAMSFS_FS_H
#define TEAMSFS_FS_H

#include <fuse_lowlevel.h>

struct crawler;
struct opts;
struct tree;
struct fs;

/*
 * Creates the filesystem state over @t and @cr (not owned) for options @o
 * (which must outlive it).  Returns 0 or a negative errno.
 */
int fs_new(struct tree *t, struct crawler *cr, const struct opts *o,
	   struct fs **out);

/* Stops the fs's thread, if running, and frees it with the inode table. */
void fs_free(struct fs *fs);

/*
 * Tells the fs its session, so that what a refresh changes can be dropped
 * from the kernel's caches, and starts the thread that keeps the inode
 * table within max_inodes (nodes.h).  NULL, before the session goes away,
 * stops that thread.
 */
void fs_set_session(struct fs *fs, struct fuse_session *se);

/* The operations to hand to fuse_session_new() with the fs as userdata. */
const struct fuse_lowlevel_ops *fs_operations(void);

#endif
