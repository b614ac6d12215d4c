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
#include "openfiles.h"
#include "opts.h"
#include "spill.h"
#include "tree.h"

struct fs {
	struct tree *tree;
	struct crawler *crawler;
	const struct opts *opts;
	struct fuse_session *se; /* for cache invalidations; may be NULL */
	uint64_t changes;	 /* changes a refresh made, counted */
	struct openfiles *files; /* kept open between reads */
	struct spill *spill;	 /* leaf nodes beyond max_inodes */
	pthread_t evictor;
	int evicting; /* the evictor thread runs */
	int no_open;  /* the kernel can open files without asking */
};

/* An open directory: its listing, taken at the first readdir. */
struct dirhandle {
	struct listing listing;
	int listed;
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
	/* Without a spill, nodes beyond the limit are dropped by the kernel */
	if (o->max_inodes && spill_open(o->cache_dir, &fs->spill))
		log_warning("inodes beyond max_inodes=%zu will be dropped from "
			    "the kernel's caches",
			    (size_t)o->max_inodes);
	rc = openfiles_new(t, 64, &fs->files);
	if (!rc) {
		rc = nodes_init(o->max_inodes, fs->spill);
		if (rc)
			openfiles_free(fs->files);
	}
	if (rc) {
		spill_close(fs->spill);
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
	openfiles_free(fs->files);
	spill_close(fs->spill);
	free(fs);
}

static double timeout(struct fs *fs)
{
	return fs->opts->timeout;
}

/* Finds the path of node @ino, or replies ESTALE and returns 0. */
static int node_or_stale(fuse_req_t req, fuse_ino_t ino, struct node_path *np,
			 struct path *p)
{
	int rc = nodes_get(ino, np);

	if (rc) {
		fuse_reply_err(req, -rc);
		return 0;
	}
	*p = np->p;
	return 1;
}

/* Attributes that will change by themselves (crawls) are not cached. */
static double attr_timeout(struct fs *fs, int settled)
{
	return settled ? timeout(fs) : 0;
}

/*
 * The generation of the version of a file with attributes @st (directories
 * and links never change in place: 1).
 */
static uint32_t generation(const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return 1;
	return nodes_generation((uint64_t)st->st_size,
				(int64_t)st->st_mtim.tv_sec * 1000000000 +
					st->st_mtim.tv_nsec);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node_path np;
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct path dir, c;
	uint64_t n;
	int rc, settled;

	if (!node_or_stale(req, parent, &np, &dir))
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
	e.generation = generation(&e.attr);
	nodes_set_gen(n, (uint32_t)e.generation);
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
	struct node_forget f[128];

	while (count) {
		size_t k = count < 128 ? count : 128;

		for (size_t i = 0; i < k; i++) {
			f[i].ino = forgets[i].ino;
			f[i].nlookup = forgets[i].nlookup;
		}
		nodes_forget_many(f, k);
		forgets += k;
		count -= k;
	}
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct node_path np;
	struct fs *fs = fuse_req_userdata(req);
	struct path p;
	struct stat st;
	int rc, settled;

	(void)fi;
	if (!node_or_stale(req, ino, &np, &p))
		return;
	rc = tree_stat(fs->tree, &p, &st, &settled, interrupted, req);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* A file that changed since the kernel was told so is another file */
	rc = nodes_check_gen(ino, generation(&st));
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_attr(req, &st, attr_timeout(fs, settled));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct node_path np;
	struct fs *fs = fuse_req_userdata(req);
	struct dirhandle *d;
	struct path p;
	int rc;

	if (!node_or_stale(req, ino, &np, &p))
		return;
	rc = tree_opendir(fs->tree, &p, interrupted, req);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	/*
	 * The kernel keeps what it read of a directory until teamsfs says the
	 * directory changed, so the listing is taken at the first readdir,
	 * which a directory the kernel has cached does not send.  A /by-name
	 * chat list grows transcript links as scopes are crawled: not cached.
	 */
	fi->cache_readdir = p.type != NODE_BN_OWNER;
	fi->keep_cache = fi->cache_readdir;
	nodes_open(ino);
	if (fuse_reply_open(req, fi)) {
		nodes_close(ino);
		free(d);
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct node_path np;
	struct fs *fs = fuse_req_userdata(req);
	struct dirhandle *d = (struct dirhandle *)(uintptr_t)fi->fh;
	struct listing *l = &d->listing;
	char *buf = malloc(size);
	size_t used = 0;
	struct path dir;
	int rc;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!node_or_stale(req, ino, &np, &dir)) {
		free(buf);
		return;
	}
	if (!d->listed) {
		/* Taken once: offsets stay valid while the directory is open */
		rc = tree_list(fs->tree, &dir, l, interrupted, req);
		if (rc) {
			tree_listing_free(l); /* empty again */
			free(buf);
			fuse_reply_err(req, -rc);
			return;
		}
		d->listed = 1;
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
				e.generation = generation(&e.attr);
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
		if (e.ino)
			nodes_set_gen(e.ino, (uint32_t)e.generation);
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
	struct dirhandle *d = (struct dirhandle *)(uintptr_t)fi->fh;

	nodes_close(ino);
	tree_listing_free(&d->listing);
	free(d);
	fuse_reply_err(req, 0);
}

/*
 * The first open of a file answers ENOSYS, which the kernel takes as "files
 * need no open": from then on it opens and closes files without a request
 * (keeping their cached pages), and reads come with the inode alone (see
 * openfiles.h).  Writing is refused by the kernel: the mount is read-only.
 */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node_path np;
	struct path p;

	if (!node_or_stale(req, ino, &np, &p))
		return;
	if ((fi->flags & O_ACCMODE) != O_RDONLY ||
	    (fi->flags & (O_TRUNC | O_APPEND | O_CREAT))) {
		fuse_reply_err(req, EROFS);
	} else if (fs->no_open) {
		fuse_reply_err(req, ENOSYS);
	} else {
		/* An older kernel: the same, at the cost of a round trip. */
		fi->fh = 0;
		fi->keep_cache = 1;
		fi->noflush = 1;
		fuse_reply_open(req, fi);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	uint64_t changes = __atomic_load_n(&fs->changes, __ATOMIC_ACQUIRE);
	struct tree_file *f;
	char *buf;
	ssize_t n;
	int rc;

	(void)fi;
	rc = openfiles_get(fs->files, ino, changes, &f, interrupted, req);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!f->fetch && f->fd < 0) {
		/* In memory: hand out the bytes without a copy. */
		if (off < 0 || (size_t)off >= f->len)
			size = 0;
		else if (size > f->len - (size_t)off)
			size = f->len - (size_t)off;
		fuse_reply_buf(req, size ? f->data + off : NULL, size);
		openfiles_put(fs->files, f);
		return;
	}
	buf = malloc(size ? size : 1);
	n = buf ? tree_read(f, buf, size, off, interrupted, req) : -ENOMEM;
	openfiles_put(fs->files, f);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct node_path np;
	struct fs *fs = fuse_req_userdata(req);
	char target[4 * NAME_MAX_BYTES + 64];
	struct path p;
	int rc;

	if (!node_or_stale(req, ino, &np, &p))
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
	struct node_path np;
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
	if (node_or_stale(req, ino, &np, &p)) {
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
	struct fs *fs = userdata;

	/* Linux 4.20 and later: files may be opened without a request. */
	fs->no_open = !!(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT);
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
	struct node_path np;
	struct fs *fs = fuse_req_userdata(req);
	struct path p;
	int rc;

	(void)arg, (void)fi, (void)flags, (void)in_buf, (void)in_bufsz;
	(void)out_bufsz;
	if (cmd != TEAMSFS_IOC_REFRESH) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (!node_or_stale(req, ino, &np, &p))
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

	if (!nodes_known(ino))
		return;
	if (p->type == NODE_MSG || p->type == NODE_TR_FILE)
		nodes_changed(ino);
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
 * entries, and unless @is_new (they did not exist) their attributes and
 * pages.
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
		/* A changed file: the next open looks its new version up. */
		if (!is_new)
			forget_cached(fs, &f);
		forget_entry(fs, &dir, name);
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
 * Keeps the inode table within max_inodes: the least recently used leaf
 * nodes beyond it go to the spill, where the kernel can keep them with
 * their cached pages.  Without a spill (or when writing it fails) the
 * kernel is asked to drop them instead, and its FORGETs free them.  This
 * runs on a thread of its own, holding no lock: the kernel takes the
 * directory's lock for an invalidation, and requests in that directory must
 * be able to finish meanwhile.
 */
static void *evict_loop(void *arg)
{
	struct fs *fs = arg;
	struct node_victim v[256];
	size_t n;

	int told = 0;

	while ((n = nodes_victims(v, sizeof(v) / sizeof(v[0])))) {
		if (fs->spill && !nodes_spill(v, n)) {
			if (!told++)
				log_info("inode table at max_inodes=%zu: the "
					 "least recently used now go to the "
					 "spill file in %s",
					 (size_t)fs->opts->max_inodes,
					 fs->opts->cache_dir);
			continue;
		}
		for (size_t i = 0; i < n; i++)
			fuse_lowlevel_notify_inval_entry(fs->se, v[i].parent,
							 v[i].name,
							 strlen(v[i].name));
	}
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
