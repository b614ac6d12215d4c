/* spill.c - nodes the inode table let go of, on disk (see spill.h). */
#include "spill.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "log.h"

/* Address space only: the file grows with what is written. */
#define SPILL_MAP_SIZE (256ULL << 30)

struct spill {
	MDB_env *env;
	MDB_dbi dbi;
};

static int mdb_err(int rc)
{
	return rc > 0 ? -rc : -EIO;
}

int spill_open(const char *dir, struct spill **out)
{
	struct spill *s = calloc(1, sizeof(*s));
	char path[4096], lockpath[4200];
	MDB_txn *txn;
	int rc;

	if (!s)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/inodes-%ld-%lx.tmp", dir,
		 (long)getpid(), (unsigned long)random());
	snprintf(lockpath, sizeof(lockpath), "%s-lock", path);
	rc = mdb_env_create(&s->env);
	if (!rc) {
		mdb_env_set_mapsize(s->env, SPILL_MAP_SIZE);
		/* Never synced: it means nothing after the mount ends. */
		rc = mdb_env_open(s->env, path,
				  MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC |
					  MDB_NOMETASYNC | MDB_WRITEMAP,
				  0600);
		unlink(path);
		unlink(lockpath);
	}
	if (!rc)
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (!rc) {
		rc = mdb_dbi_open(txn, NULL, MDB_INTEGERKEY, &s->dbi);
		rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
	}
	if (rc) {
		log_error("cannot create the inode spill file in %s: %s", dir,
			  mdb_strerror(rc));
		if (s->env)
			mdb_env_close(s->env);
		free(s);
		return mdb_err(rc);
	}
	*out = s;
	return 0;
}

void spill_close(struct spill *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	free(s);
}

/* Commits write transaction @txn, or aborts it after error @rc. */
static int finish(MDB_txn *txn, int rc)
{
	if (!rc)
		rc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	if (rc) {
		log_error("cannot write to the inode spill file: %s",
			  mdb_strerror(rc));
		return mdb_err(rc);
	}
	return 0;
}

int spill_put(struct spill *s, const struct spill_rec *r, size_t n)
{
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);

	for (size_t i = 0; !rc && i < n; i++) {
		MDB_val k = {sizeof(r[i].ino), (void *)&r[i].ino};
		MDB_val v = {r[i].len, (void *)r[i].data};

		rc = mdb_put(txn, s->dbi, &k, &v, 0);
	}
	return finish(txn, rc);
}

int spill_del(struct spill *s, const uint64_t *ino, size_t n)
{
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);

	for (size_t i = 0; !rc && i < n; i++) {
		MDB_val k = {sizeof(ino[i]), (void *)&ino[i]};

		rc = mdb_del(txn, s->dbi, &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	return finish(txn, rc);
}

ssize_t spill_get(struct spill *s, uint64_t ino, void *buf)
{
	MDB_txn *txn;
	MDB_val k = {sizeof(ino), &ino}, v;
	ssize_t len;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc)
		return mdb_err(rc);
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		len = -ENOENT;
	else if (rc)
		len = mdb_err(rc);
	else if (v.mv_size > SPILL_MAX)
		len = -EIO;
	else {
		memcpy(buf, v.mv_data, v.mv_size);
		len = (ssize_t)v.mv_size;
	}
	mdb_txn_abort(txn);
	return len;
}
