/* fs.c - low-level FUSE operations over the tree (see tree.h). */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control.h"
#include "crawl.h"
#include "log.h"
#include "names.h"
#include "nodes.h"
#include "opts.h"
#include "tree.h"

struct fs {
	struct tree *tree;
	struct crawler *crawler;
	const struct opts *opts;
	struct fuse_session *se; /* for cache invalidations; may be NULL */
	uint64_t changes;	 /* changes a refresh made, counted */
	pthread_t evictor;
	int evicting; /* the evictor thread runs */
};

/* Lets a waiting request stop when its caller is interrupted (Ctrl-C). */
static int interrupted(void *req)
{
	return fuse_req_interrupted(req);
}

int fs_new(struct tree *t, struct crawler *cr, const struct opts *o,
	   struct fs **out)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	int rc;

	if (!fs)
		return -ENOMEM;
	fs->tree = t;
	fs->crawler = cr;
	fs->opts = o;
	rc = nodes_init(o->max_inodes);
	if (rc) {
		free(fs);
		return rc;
	}
	*out = fs;
	return 0;
}

static void stop_evictor(struct fs *fs)
{
	if (fs->evicting) {
		nodes_stop_victims();
		pthread_join(fs->evictor, NULL);
		fs->evicting = 0;
	}
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	stop_evictor(fs); /* when the mount failed after fs_set_session() */
	nodes_destroy();
	free(fs);
}

static double timeout(struct fs *fs)
{
	return fs->opts->timeout;
}

/* Finds the path of node @ino, or replies ESTALE and returns 0. */
static int node_or_stale(fuse_req_t req, fuse_ino_t ino, struct path *p)
{
	if (nodes_get(ino, p)) {
		fuse_reply_err(req, ESTALE);
		return 0;
	}
	return 1;
}

/* Attributes that will change by themselves (crawls) are not cached. */
static double attr_timeout(struct fs *fs, int settled)
{
	return settled ? timeout(fs) : 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct path dir, c;
	uint64_t n;
	int rc, settled;

	if (!node_or_stale(req, parent, &dir))
		return;
	memset(&e, 0, sizeof(e));
	rc = tree_child(&dir, name, &c);
	if (!rc)
		rc = tree_stat(fs->tree, &c, &e.attr, &settled, interrupted,
			       req);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	n = nodes_ref(&c);
	if (!n) {
		fuse_reply_err(req, EIO);
		return;
	}
	e.ino = n;
	e.generation = 1;
	e.entry_timeout = timeout(fs);
	e.attr_timeout = attr_timeout(fs, settled);
	if (fuse_reply_entry(req, &e))
		nodes_forget(n, 1);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	nodes_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		nodes_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct path p;
	struct stat st;
	int rc, settled;

	(void)fi;
	if (!node_or_stale(req, ino, &p))
		return;
	rc = tree_stat(fs->tree, &p, &st, &settled, interrupted, req);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, attr_timeout(fs, settled));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct listing *l;
	struct path p;
	int rc;

	if (!node_or_stale(req, ino, &p))
		return;
	l = calloc(1, sizeof(*l));
	if (!l) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* The listing is taken once: offsets stay valid while it is open. */
	rc = tree_list(fs->tree, &p, l, interrupted, req);
	if (rc) {
		tree_listing_free(l);
		free(l);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)l;
	/* A /by-name chat list grows transcript links as scopes are crawled */
	fi->cache_readdir = p.type != NODE_BN_OWNER;
	nodes_open(ino);
	if (fuse_reply_open(req, fi)) {
		nodes_close(ino);
		tree_listing_free(l);
		free(l);
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;
	struct path dir;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!node_or_stale(req, ino, &dir)) {
		free(buf);
		return;
	}
	for (size_t i = (size_t)off; i < l->n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		struct path c;
		size_t len;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i ? ".." : ".";
			e.attr.st_ino = ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			name = l->names + l->ents[i - 2].name_off;
			tree_listing_stat(fs->tree, &l->ents[i - 2], &e.attr);
			tree_child(&dir, name, &c);
			if (!e.attr.st_ino)
				e.attr.st_ino = tree_ino(&c);
			/* Without attributes the kernel will look it up. */
			if (plus && l->ents[i - 2].ino &&
			    l->ents[i - 2].nlink) {
				e.ino = e.attr.st_ino;
				e.generation = 1;
				e.entry_timeout = timeout(fs);
				e.attr_timeout = attr_timeout(fs, 0);
				if (c.type >= NODE_CONT &&
				    c.type < NODE_TR_ROOT)
					e.attr_timeout = timeout(fs);
			}
		}
		if (!plus)
			len = fuse_add_direntry(req, buf + used, size - used,
						name, &e.attr, (off_t)i + 1);
		else
			len = fuse_add_direntry_plus(req, buf + used,
						     size - used, name, &e,
						     (off_t)i + 1);
		if (len > size - used)
			break;
		if (e.ino && !nodes_ref(&c))
			break; /* the kernel must not keep it without a node */
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;

	nodes_close(ino);
	tree_listing_free(l);
	free(l);
	fuse_reply_err(req, 0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct tree_file *f;
	struct path p;
	uint64_t gen;
	int rc;

	if (!node_or_stale(req, ino, &p))
		return;
	if ((fi->flags & O_ACCMODE) != O_RDONLY ||
	    (fi->flags & (O_TRUNC | O_APPEND | O_CREAT))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	gen = __atomic_load_n(&fs->changes, __ATOMIC_ACQUIRE);
	rc = tree_open(fs->tree, &p, f, interrupted, req);
	f->gen = gen;
	if (rc) {
		free(f);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = 1;
	fi->noflush = 1; /* nothing to flush: spare close() a round trip */
	nodes_open(ino);
	if (fuse_reply_open(req, fi)) {
		nodes_close(ino);
		tree_close(f);
		free(f);
	}
}

/*
 * Whether open file @f still shows what its path holds.  After a refresh
 * changed anything, each handle checks once whether its own file changed:
 * an old handle must not read an old version into the kernel's page cache,
 * where later readers would find it, so it answers ESTALE instead (as NFS
 * does for a file replaced under an open handle).
 */
static int still_current(fuse_req_t req, fuse_ino_t ino, struct tree_file *f)
{
	struct fs *fs = fuse_req_userdata(req);
	uint64_t gen = __atomic_load_n(&fs->changes, __ATOMIC_ACQUIRE);
	struct path p;

	if (!f->changes || gen == __atomic_load_n(&f->gen, __ATOMIC_RELAXED))
		return 1;
	if (nodes_get(ino, &p))
		return 1;
	if (!tree_file_current(fs->tree, &p, f, interrupted, req))
		return 0;
	__atomic_store_n(&f->gen, gen, __ATOMIC_RELAXED);
	return 1;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct tree_file *f = (struct tree_file *)(uintptr_t)fi->fh;
	char *buf;
	ssize_t n;

	if (!still_current(req, ino, f)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!f->fetch && f->fd < 0) {
		/* In memory: hand out the bytes without a copy. */
		if (off < 0 || (size_t)off >= f->len)
			size = 0;
		else if (size > f->len - (size_t)off)
			size = f->len - (size_t)off;
		fuse_reply_buf(req, size ? f->data + off : NULL, size);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = tree_read(f, buf, size, off, interrupted, req);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct tree_file *f = (struct tree_file *)(uintptr_t)fi->fh;

	nodes_close(ino);
	tree_close(f);
	free(f);
	fuse_reply_err(req, 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	char target[4 * NAME_MAX_BYTES + 64];
	struct path p;
	int rc;

	if (!node_or_stale(req, ino, &p))
		return;
	rc = tree_readlink(fs->tree, &p, target, sizeof(target), interrupted,
			   req);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct statvfs sv;

	(void)ino;
	tree_statfs(fs->tree, &sv);
	fuse_reply_statfs(req, &sv);
}

static void reply_xattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	char *buf;
	struct path p;
	ssize_t n;

	if (fs->opts->no_xattrs) {
		/* ENOSYS: the kernel stops asking for the whole mount. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (node_or_stale(req, ino, &p)) {
		n = tree_xattr(fs->tree, &p, name, buf, size);
		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else if (!size)
			fuse_reply_xattr(req, (size_t)n);
		else
			fuse_reply_buf(req, buf, (size_t)n);
	}
	free(buf);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	reply_xattr(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	reply_xattr(req, ino, NULL, size);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
}

/* "teamsfs refresh PATH": refreshes what the node lies in (tree.h). */
static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
		     void *arg, struct fuse_file_info *fi, unsigned flags,
		     const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct fs *fs = fuse_req_userdata(req);
	struct path p;
	int rc;

	(void)arg, (void)fi, (void)flags, (void)in_buf, (void)in_bufsz;
	(void)out_bufsz;
	if (cmd != TEAMSFS_IOC_REFRESH) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (!node_or_stale(req, ino, &p))
		return;
	rc = tree_refresh(fs->tree, &p, interrupted, req);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

/* Drops what the kernel caches of @p, if the kernel knows it. */
static void forget_cached(struct fs *fs, const struct path *p)
{
	uint64_t ino = tree_ino(p);

	if (nodes_known(ino))
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

/* Drops the kernel's (possibly negative) entry @name in directory @dir. */
static void forget_entry(struct fs *fs, const struct path *dir,
			 const char *name)
{
	uint64_t ino = tree_ino(dir);

	if (nodes_known(ino))
		fuse_lowlevel_notify_inval_entry(fs->se, ino, name,
						 strlen(name));
}

/*
 * Drops what the kernel caches of the transcripts of container @cont: their
 * attributes and pages, or with @is_new the entries for them.
 */
static void forget_transcripts(struct fs *fs, char kind, const char *owner,
			       const char *cont, int is_new)
{
	static const char *const ext[] = {".html", ".txt"};
	struct path dir = {NODE_TR_OWNER, kind, owner, NULL, NULL, NULL};
	char name[NAME_MAX_BYTES + 8];

	for (int k = 0; k < 2; k++) {
		struct path f = {NODE_TR_FILE, kind, owner, name, NULL, NULL};

		snprintf(name, sizeof(name), "%s%s", cont, ext[k]);
		if (is_new)
			forget_entry(fs, &dir, name);
		else
			forget_cached(fs, &f);
	}
}

/* Called by the crawler for everything a refresh changed. */
static void on_change(void *ctx, char kind, const char *owner, const char *cont,
		      const char *msg)
{
	struct fs *fs = ctx;
	struct path list = {NODE_LIST, kind, NULL, NULL, NULL, NULL};
	struct path scope = {NODE_SCOPE, kind, owner, NULL, NULL, NULL};
	struct path c = {NODE_CONT, kind, owner, cont, NULL, NULL};
	struct path m = {NODE_MSG, kind, owner, cont, msg, NULL};

	if (!fs->se)
		return;
	__atomic_add_fetch(&fs->changes, 1, __ATOMIC_RELEASE);
	if (!owner) {
		forget_cached(fs, &list);
	} else if (!cont) {
		struct path o = {NODE_OWNER, kind, owner, NULL, NULL, NULL};

		forget_cached(fs, &scope);
		forget_cached(fs, &o);
	} else if (!msg) {
		forget_entry(fs, &scope, cont);
		forget_transcripts(fs, kind, owner, cont, 1);
	} else {
		forget_cached(fs, &m);
		forget_entry(fs, &c, msg);
		forget_cached(fs, &c);
		forget_transcripts(fs, kind, owner, cont, 0);
	}
}

/*
 * Asks the kernel to drop the leaf entries that nodes.c names beyond its
 * limit; the kernel's FORGETs then free their nodes.  This runs on a thread
 * of its own, holding no lock: the kernel takes the directory's lock for an
 * invalidation, and requests in that directory must be able to finish
 * meanwhile.
 */
static void *evict_loop(void *arg)
{
	struct fs *fs = arg;
	struct node_victim v[64];
	size_t n;

	while ((n = nodes_victims(v, sizeof(v) / sizeof(v[0]))))
		for (size_t i = 0; i < n; i++)
			fuse_lowlevel_notify_inval_entry(fs->se, v[i].parent,
							 v[i].name,
							 strlen(v[i].name));
	return NULL;
}

void fs_set_session(struct fs *fs, struct fuse_session *se)
{
	if (!se)
		stop_evictor(fs);
	fs->se = se;
	crawler_on_change(fs->crawler, on_change, fs);
	if (se && fs->opts->max_inodes && !fs->evicting) {
		fs->evicting =
			!pthread_create(&fs->evictor, NULL, evict_loop, fs);
		if (!fs->evicting)
			log_warning("cannot start the thread that keeps the "
				    "inode table within max_inodes");
	}
}

/* Everything that would change the tree. */
static void erofs(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	erofs(req);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	erofs(req);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	erofs(req);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	erofs(req);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)parent, (void)name;
	erofs(req);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	erofs(req);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	erofs(req);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	erofs(req);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino, (void)buf, (void)size, (void)off, (void)fi;
	erofs(req);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	erofs(req);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	erofs(req);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
	.readlink = op_readlink,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.ioctl = op_ioctl,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.create = op_create,
	.write = op_write,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};

const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &ops;
}
