/* fs.c - low-level FUSE operations over the cache and the crawler. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "control.h"
#include "crawl.h"
#include "log.h"
#include "names.h"
#include "nodes.h"
#include "opts.h"

/* A users or teams list given on the command line instead of by Graph. */
struct fixed_list {
	int n;
	char **ids;
	char (*names)[NAME_MAX_BYTES + 1]; /* sorted by name, with ids */
};

struct fs {
	struct cache *cache;
	struct crawler *crawler;
	const struct opts *opts;
	uid_t uid;
	gid_t gid;
	struct fixed_list fixed[2]; /* [0] users, [1] teams */
	int has_fixed[2];
	struct fuse_session *se; /* for cache invalidations; may be NULL */
};

/* Lets a waiting request stop when its caller is interrupted (Ctrl-C). */
static int interrupted(void *req)
{
	return fuse_req_interrupted(req);
}

static struct fixed_list *fixed_for(struct fs *fs, char kind)
{
	int i = kind == 'u' ? 0 : 1;

	return fs->has_fixed[i] ? &fs->fixed[i] : NULL;
}

static int load_fixed(struct fixed_list *l, const char *list)
{
	int n = opts_split_ids(list, &l->ids);

	if (n < 0)
		return n;
	l->n = n;
	l->names = calloc((size_t)n + 1, sizeof(*l->names));
	if (!l->names)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		name_from_id(l->ids[i], strlen(l->ids[i]), "", l->names[i]);
	/* Keep listings in name order, as the cache gives them. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(l->names[j - 1],
						l->names[j]) > 0;
		     j--) {
			char tmp[NAME_MAX_BYTES + 1], *id = l->ids[j];

			memcpy(tmp, l->names[j], sizeof(tmp));
			memcpy(l->names[j], l->names[j - 1], sizeof(tmp));
			memcpy(l->names[j - 1], tmp, sizeof(tmp));
			l->ids[j] = l->ids[j - 1];
			l->ids[j - 1] = id;
		}
	return 0;
}

int fs_new(struct cache *c, struct crawler *cr, const struct opts *o,
	   struct fs **out)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	int rc = 0;

	if (!fs)
		return -ENOMEM;
	fs->cache = c;
	fs->crawler = cr;
	fs->opts = o;
	fs->uid = getuid();
	fs->gid = getgid();
	if (o->users) {
		fs->has_fixed[0] = 1;
		rc = load_fixed(&fs->fixed[0], o->users);
	}
	if (!rc && o->teams) {
		fs->has_fixed[1] = 1;
		rc = load_fixed(&fs->fixed[1], o->teams);
	}
	if (!rc)
		rc = nodes_init();
	if (rc) {
		fs_free(fs);
		return rc;
	}
	*out = fs;
	return 0;
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < fs->fixed[k].n; i++)
			free(fs->fixed[k].ids[i]);
		free(fs->fixed[k].ids);
		free(fs->fixed[k].names);
	}
	nodes_destroy();
	free(fs);
}

static const char *scope_dir(char kind)
{
	return kind == 'u' ? "chats" : "channels";
}

/*
 * Finds the Graph id of owner @name of @kind into *@id (malloc'd), fetching
 * the list from Graph if needed.  Returns 0, -ENOENT or another -errno.
 */
static int owner_id(struct fs *fs, fuse_req_t req, char kind,
		    const char *name, char **id)
{
	struct fixed_list *l = fixed_for(fs, kind);
	struct list_entry e;
	int rc;

	if (l) {
		for (int i = 0; i < l->n; i++)
			if (!strcmp(l->names[i], name))
				return (*id = strdup(l->ids[i])) ? 0 : -ENOMEM;
		return -ENOENT;
	}
	rc = crawl_list(fs->crawler, kind, interrupted, req);
	if (rc)
		return rc;
	rc = cache_list_get(fs->cache, kind, name, &e);
	if (rc)
		return rc;
	free(e.display);
	*id = e.id;
	return 0;
}

/* Crawls the scope of @owner of @kind unless the cache has it whole. */
static int ensure_scope(struct fs *fs, fuse_req_t req, char kind,
			const char *owner)
{
	char *id;
	int rc = owner_id(fs, req, kind, owner, &id);

	if (rc)
		return rc == -ENOENT ? -EIO : rc;
	rc = crawl_scope(fs->crawler, kind, owner, id, interrupted, req);
	free(id);
	return rc;
}

static void set_time(struct stat *st, int64_t ns)
{
	st->st_mtim.tv_sec = ns / 1000000000;
	st->st_mtim.tv_nsec = ns % 1000000000;
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	st->st_atim = st->st_ctim = st->st_mtim;
}

static void set_ctime(struct stat *st, int64_t ns)
{
	struct timespec m = st->st_mtim;

	set_time(st, ns);
	st->st_mtim = st->st_atim = m;
}

static void fill(struct fs *fs, struct stat *st, uint64_t ino, int dir,
		 nlink_t nlink, uint64_t size, int64_t mtime_ns)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = dir ? S_IFDIR | 0555 : S_IFREG | 0444;
	st->st_nlink = nlink;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	set_time(st, mtime_ns);
}

/* Time the list of @kind was fetched (0 when it never was). */
static int64_t list_time(struct fs *fs, char kind, uint32_t *count)
{
	struct list_state ls;
	struct fixed_list *l = fixed_for(fs, kind);

	cache_list_state(fs->cache, kind, &ls);
	if (count)
		*count = l ? (uint32_t)l->n : ls.complete ? ls.count : 0;
	return ls.complete ? ls.fetched_ns : 0;
}

/* Fills @st for the node described; returns 0 or -errno (e.g. -ENOENT). */
static int attr_of(struct fs *fs, enum node_type type, char kind,
		   const char *owner, const char *cont, const char *msg,
		   struct stat *st, int *settled)
{
	uint64_t ino = nodes_ino(type, kind, owner, cont, msg);
	uint64_t sh = owner ? cache_scope_hash(kind, owner) : 0;
	struct scope_rec sr;
	struct cont_rec cr;
	struct msg_stat ms;
	uint32_t count;
	int64_t t, t2;
	int rc;

	*settled = 1;
	switch (type) {
	case NODE_ROOT:
		t = list_time(fs, 'u', NULL);
		t2 = list_time(fs, 't', NULL);
		*settled = t && t2;
		fill(fs, st, ino, 1, 4, 0, t > t2 ? t : t2);
		return 0;
	case NODE_LIST:
		t = list_time(fs, kind, &count);
		*settled = t || fixed_for(fs, kind);
		fill(fs, st, ino, 1, 2 + count, 0, t);
		return 0;
	case NODE_OWNER:
	case NODE_SCOPE:
		rc = cache_scope_get(fs->cache, kind, owner, &sr);
		if (rc)
			return rc;
		free(sr.next_link);
		*settled = (sr.flags & SCOPE_COMPLETE) != 0;
		t = *settled ? sr.newest_ns : list_time(fs, kind, NULL);
		if (type == NODE_OWNER)
			fill(fs, st, ino, 1, 3, 0, t);
		else
			fill(fs, st, ino, 1, 2 + sr.containers, 0, t);
		/*
		 * The first crawl moves mtime from the list's time to the
		 * newest message's.  ctime stays, so that tar, which stats a
		 * directory before and after reading it, sees no change.
		 */
		set_ctime(st, list_time(fs, kind, NULL));
		return 0;
	case NODE_CONT:
		rc = cache_cont_get(fs->cache, sh, cont, &cr);
		if (rc)
			return rc;
		fill(fs, st, ino, 1, 2, 0, cr.newest_ns);
		return 0;
	case NODE_MSG:
		rc = cache_msg_stat(fs->cache, sh, cont, msg, &ms);
		if (rc)
			return rc;
		fill(fs, st, ino, 0, 1, ms.size, ms.mtime_ns);
		return 0;
	}
	return -ENOENT;
}

/* The names of a child @name of directory node @dir. */
struct child {
	enum node_type type;
	char kind;
	const char *owner, *cont, *msg;
};

static int child_of(const struct node *dir, const char *name,
		    struct child *c)
{
	c->kind = dir->kind;
	c->owner = dir->owner;
	c->cont = dir->cont;
	c->msg = NULL;
	switch (dir->type) {
	case NODE_ROOT:
		c->type = NODE_LIST;
		c->kind = name[0] == 'u' ? 'u' : 't';
		return 0;
	case NODE_LIST:
		c->type = NODE_OWNER;
		c->owner = name;
		return 0;
	case NODE_OWNER:
		c->type = NODE_SCOPE;
		return 0;
	case NODE_SCOPE:
		c->type = NODE_CONT;
		c->cont = name;
		return 0;
	case NODE_CONT:
		c->type = NODE_MSG;
		c->msg = name;
		return 0;
	default:
		return -ENOTDIR;
	}
}

static double timeout(struct fs *fs)
{
	return fs->opts->timeout;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *dir = nodes_get(parent), *n;
	struct fuse_entry_param e;
	struct child c;
	int rc = 0, settled = 0;

	if (!dir) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (child_of(dir, name, &c)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	switch (dir->type) {
	case NODE_ROOT:
		rc = strcmp(name, "users") && strcmp(name, "teams") ? -ENOENT
								   : 0;
		break;
	case NODE_LIST: {
		char *id;

		rc = name_is_plausible(name)
			     ? owner_id(fs, req, c.kind, name, &id)
			     : -ENOENT;
		if (!rc)
			free(id);
		break;
	}
	case NODE_OWNER:
		rc = strcmp(name, scope_dir(c.kind)) ? -ENOENT : 0;
		break;
	case NODE_SCOPE:
		rc = name_is_plausible(name)
			     ? ensure_scope(fs, req, c.kind, c.owner)
			     : -ENOENT;
		break;
	case NODE_CONT: {
		size_t len = strlen(name);

		if (len < 6 || strcmp(name + len - 5, ".json"))
			rc = -ENOENT;
		break;
	}
	default:
		rc = -ENOTDIR;
	}
	memset(&e, 0, sizeof(e));
	if (!rc)
		rc = attr_of(fs, c.type, c.kind, c.owner, c.cont, c.msg,
			     &e.attr, &settled);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	n = nodes_ref(c.type, c.kind, c.owner, c.cont, c.msg);
	if (!n) {
		fuse_reply_err(req, EIO);
		return;
	}
	e.ino = n->ino;
	e.generation = 1;
	e.entry_timeout = timeout(fs);
	/* Attributes that a crawl will change are not cached meanwhile. */
	e.attr_timeout = settled ? timeout(fs) : 0;
	if (fuse_reply_entry(req, &e))
		nodes_forget(n->ino, 1);
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
	struct node *n = nodes_get(ino);
	struct stat st;
	int rc, settled;

	(void)fi;
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	rc = attr_of(fs, n->type, n->kind, n->owner, n->cont, n->msg, &st,
		     &settled);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, settled ? timeout(fs) : 0);
}

/* A directory listing taken when the directory is opened. */
struct dirent_snap {
	uint32_t name_off;
	int dir;
	nlink_t nlink;
	uint64_t size;
	int64_t mtime_ns;
};

struct dir_snap {
	struct dirent_snap *ents;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
};

static int snap_add(struct dir_snap *d, const char *name, size_t len, int dir,
		    nlink_t nlink, uint64_t size, int64_t mtime_ns)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct dirent_snap *p = realloc(d->ents, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->ents = p;
		d->cap = cap;
	}
	if (d->names_len + len + 1 > d->names_cap) {
		size_t cap = d->names_cap ? d->names_cap * 2 : 4096;
		char *p;

		while (cap < d->names_len + len + 1)
			cap *= 2;
		p = realloc(d->names, cap);
		if (!p)
			return -ENOMEM;
		d->names = p;
		d->names_cap = cap;
	}
	memcpy(d->names + d->names_len, name, len);
	d->names[d->names_len + len] = '\0';
	d->ents[d->n++] = (struct dirent_snap){(uint32_t)d->names_len, dir,
					       nlink, size, mtime_ns};
	d->names_len += len + 1;
	return 0;
}

static void snap_free(struct dir_snap *d)
{
	if (!d)
		return;
	free(d->ents);
	free(d->names);
	free(d);
}

/* Collects the listing of a list, scope or container from the cache. */
struct snap_walk {
	struct fs *fs;
	struct dir_snap *d;
	enum node_type child;
	char kind;
	const char *owner;
	int rc;
};

static int snap_entry(void *ctx, const char *name, size_t len,
		      const void *rec)
{
	struct snap_walk *w = ctx;

	if (len > NAME_MAX_BYTES)
		return 0;
	switch (w->child) {
	case NODE_OWNER:
		/* Its attributes are read when the entry is sent. */
		w->rc = snap_add(w->d, name, len, 1, 3, 0, 0);
		break;
	case NODE_CONT:
		w->rc = snap_add(w->d, name, len, 1, 2, 0,
				 ((const struct cont_rec *)rec)->newest_ns);
		break;
	default: {
		const struct msg_stat *ms = rec;

		w->rc = snap_add(w->d, name, len, 0, 1, ms->size,
				 ms->mtime_ns);
	}
	}
	return w->rc;
}

static int snapshot(struct fs *fs, fuse_req_t req, struct node *n,
		    struct dir_snap *d)
{
	struct snap_walk w = {fs, d, NODE_ROOT, n->kind, n->owner, 0};
	struct stat st;
	int rc = 0, settled;

	switch (n->type) {
	case NODE_ROOT:
		for (int i = 0; i < 2 && !rc; i++) {
			const char *name = i ? "teams" : "users";

			attr_of(fs, NODE_LIST, name[0], NULL, NULL, NULL, &st,
				&settled);
			rc = snap_add(d, name, 5, 1, st.st_nlink, 0,
				      (int64_t)st.st_mtim.tv_sec * 1000000000 +
					      st.st_mtim.tv_nsec);
		}
		return rc;
	case NODE_LIST: {
		struct fixed_list *l = fixed_for(fs, n->kind);

		w.child = NODE_OWNER;
		if (l) {
			for (int i = 0; i < l->n && !w.rc; i++)
				snap_entry(&w, l->names[i],
					   strlen(l->names[i]), NULL);
			return w.rc;
		}
		rc = crawl_list(fs->crawler, n->kind, interrupted, req);
		if (!rc)
			rc = cache_list_foreach(fs->cache, n->kind, snap_entry,
						&w);
		return rc ? rc : w.rc;
	}
	case NODE_OWNER:
		rc = attr_of(fs, NODE_SCOPE, n->kind, n->owner, NULL, NULL,
			     &st, &settled);
		if (!rc)
			rc = snap_add(d, scope_dir(n->kind),
				      strlen(scope_dir(n->kind)), 1,
				      st.st_nlink, 0,
				      (int64_t)st.st_mtim.tv_sec * 1000000000 +
					      st.st_mtim.tv_nsec);
		return rc;
	case NODE_SCOPE:
		rc = ensure_scope(fs, req, n->kind, n->owner);
		w.child = NODE_CONT;
		if (!rc)
			rc = cache_cont_foreach(fs->cache, n->sh, snap_entry,
						&w);
		return rc ? rc : w.rc;
	case NODE_CONT:
		w.child = NODE_MSG;
		rc = cache_msg_foreach(fs->cache, n->sh, n->cont, snap_entry,
				       &w);
		return rc ? rc : w.rc;
	default:
		return -ENOTDIR;
	}
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = nodes_get(ino);
	struct dir_snap *d;
	int rc;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = snapshot(fs, req, n, d);
	if (rc) {
		snap_free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->cache_readdir = 1;
	if (fuse_reply_open(req, fi))
		snap_free(d);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi, int plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct dir_snap *d = (struct dir_snap *)(uintptr_t)fi->fh;
	struct node *dir = nodes_get(ino);
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf || !dir) {
		free(buf);
		fuse_reply_err(req, buf ? ESTALE : ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < d->n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		struct child c;
		size_t len;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i ? ".." : ".";
			e.attr.st_ino = i ? INO_ROOT : ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			const struct dirent_snap *s = &d->ents[i - 2];

			int settled;

			name = d->names + s->name_off;
			child_of(dir, name, &c);
			/* Above containers, attributes follow crawls: ask. */
			if (c.type >= NODE_CONT ||
			    attr_of(fs, c.type, c.kind, c.owner, c.cont, c.msg,
				    &e.attr, &settled))
				fill(fs, &e.attr,
				     nodes_ino(c.type, c.kind, c.owner, c.cont,
					       c.msg),
				     s->dir, s->nlink, s->size, s->mtime_ns);
		}
		if (!plus) {
			len = fuse_add_direntry(req, buf + used, size - used,
						name, &e.attr, (off_t)i + 1);
		} else {
			if (i >= 2) {
				e.ino = e.attr.st_ino;
				e.generation = 1;
				e.entry_timeout = timeout(fs);
				/* Owner and scope times move with crawls. */
				e.attr_timeout = c.type >= NODE_CONT
							 ? timeout(fs)
							 : 0;
			}
			len = fuse_add_direntry_plus(req, buf + used,
						     size - used, name, &e,
						     (off_t)i + 1);
		}
		if (len > size - used)
			break;
		if (plus && i >= 2 &&
		    !nodes_ref(c.type, c.kind, c.owner, c.cont, c.msg)) {
			/* Without a node the kernel must not keep the entry */
			break;
		}
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
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
	(void)ino;
	snap_free((struct dir_snap *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* An open message file: its bytes as they were when it was opened. */
struct open_file {
	char *data;
	size_t len;
};

static void op_open(fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = nodes_get(ino);
	struct open_file *f;
	int rc;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (n->type != NODE_MSG) {
		fuse_reply_err(req, EISDIR);
		return;
	}
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
	rc = cache_msg_read(fs->cache, n->sh, n->cont, n->msg, &f->data,
			    &f->len);
	if (rc) {
		free(f);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi)) {
		free(f->data);
		free(f);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct open_file *f = (struct open_file *)(uintptr_t)fi->fh;

	(void)ino;
	if (off < 0 || (size_t)off >= f->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > f->len - (size_t)off)
		size = f->len - (size_t)off;
	fuse_reply_buf(req, f->data + off, size);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct open_file *f = (struct open_file *)(uintptr_t)fi->fh;

	(void)ino;
	free(f->data);
	free(f);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = NAME_MAX_BYTES;
	fuse_reply_statfs(req, &sv);
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

/* "teamsfs refresh PATH": refreshes the scope (or lists) of the node. */
static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
		     void *arg, struct fuse_file_info *fi, unsigned flags,
		     const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = nodes_get(ino);
	char *id = NULL;
	int rc;

	(void)arg, (void)fi, (void)flags, (void)in_buf, (void)in_bufsz;
	(void)out_bufsz;
	if (cmd != TEAMSFS_IOC_REFRESH) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (n->type == NODE_ROOT || n->type == NODE_LIST) {
		rc = 0;
		for (int k = 0; k < 2 && !rc; k++) {
			char kind = k ? 't' : 'u';

			if ((n->type == NODE_ROOT || n->kind == kind) &&
			    !fixed_for(fs, kind))
				rc = crawl_refresh_list(fs->crawler, kind,
							interrupted, req);
		}
		if (!rc)
			crawl_mark_stale(fs->crawler);
	} else {
		rc = owner_id(fs, req, n->kind, n->owner, &id);
		if (!rc)
			rc = crawl_refresh_scope(fs->crawler, n->kind,
						 n->owner, id, interrupted,
						 req);
		free(id);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

/* Drops what the kernel caches of @ino, if the kernel knows it. */
static void forget_cached(struct fs *fs, uint64_t ino)
{
	if (nodes_get(ino))
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

/* Drops the kernel's (possibly negative) entry @name in directory @dir. */
static void forget_entry(struct fs *fs, uint64_t dir, const char *name)
{
	if (nodes_get(dir))
		fuse_lowlevel_notify_inval_entry(fs->se, dir, name,
						 strlen(name));
}

/* Called by the crawler for everything a refresh changed. */
static void on_change(void *ctx, char kind, const char *owner,
		      const char *cont, const char *msg)
{
	struct fs *fs = ctx;
	uint64_t scope, dir;

	if (!fs->se)
		return;
	if (!owner) {
		forget_cached(fs, nodes_ino(NODE_LIST, kind, NULL, NULL, NULL));
		return;
	}
	scope = nodes_ino(NODE_SCOPE, kind, owner, NULL, NULL);
	if (!cont) {
		forget_cached(fs, scope);
		forget_cached(fs,
			      nodes_ino(NODE_OWNER, kind, owner, NULL, NULL));
		return;
	}
	dir = nodes_ino(NODE_CONT, kind, owner, cont, NULL);
	if (!msg) {
		forget_entry(fs, scope, cont);
		return;
	}
	forget_cached(fs, nodes_ino(NODE_MSG, kind, owner, cont, msg));
	forget_entry(fs, dir, msg);
	forget_cached(fs, dir);
}

void fs_set_session(struct fs *fs, struct fuse_session *se)
{
	fs->se = se;
	crawler_on_change(fs->crawler, on_change, fs);
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
