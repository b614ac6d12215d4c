/*
 * opts.h - the command line: teamsfs's own -o options, the client secret,
 * and the FUSE arguments passed on to libfuse.
 */
#ifndef TEAMSFS_OPTS_H
#define TEAMSFS_OPTS_H

#include <fuse_lowlevel.h>

/*
 * Default max_inodes: ~100 bytes of teamsfs's memory a node (and ~1 KiB of
 * the kernel's), and more than the largest directory a listing should find
 * warm (a chat of 100,000 messages).
 */
#define OPTS_MAX_INODES 262144

struct opts {
	char *tenant;
	char *client_id;
	char *client_secret_file;
	char *graph_url;
	char *token_url;
	char *cache_dir;
	char *users; /* "id:id..." or NULL */
	char *teams;
	char *model; /* "A", "B" or NULL */
	unsigned top;
	unsigned retries;
	unsigned max_rps;   /* Graph requests started per second, at most */
	unsigned max_conns; /* Graph requests in flight, at most */
	unsigned stall;	    /* seconds a silent request is given */
	char *refresh;	    /* "1h", "30m", "0"... as given */
	char *overlap;
	long long refresh_ns; /* parsed; 0: never refresh */
	long long overlap_ns;
	int offline;
	int no_xattrs;	     /* leave xattrs to the kernel: none */
	int no_transcripts;  /* no /transcripts, no links to it */
	unsigned max_inodes; /* leaf inodes the kernel may keep; 0: no limit */
	char *attachments;   /* "files" (default) or "links" */
	char *att_cache_max; /* as given */
	long long att_cache_bytes; /* parsed */
	double timeout; /* kernel entry and attribute timeout, seconds */

	char *secret; /* the client secret, read from its file or env */
	char *mountpoint;
	int foreground;
	int debug;
	struct fuse_args args; /* what goes on to libfuse */
};

/* What the command line is for. */
enum opts_mode {
	OPTS_MOUNT,  /* teamsfs ... MOUNTPOINT */
	OPTS_SYNC,   /* teamsfs sync ...: no mount point */
	OPTS_STATUS, /* teamsfs status ...: no mount point, no secret */
};

/*
 * Parses @argv into @o, reading the client secret and filling defaults.
 * Returns 0 to go on, 1 when --help or --version was answered (exit 0),
 * or -1 after printing a one-line error (exit 1).
 */
int opts_parse(int argc, char **argv, enum opts_mode mode, struct opts *o);

/* Frees what opts_parse allocated and wipes the secret. */
void opts_free(struct opts *o);

/*
 * Splits a "id:id:..." list into a NULL-terminated malloc'd array of
 * malloc'd strings in *@out.  Returns the number of ids or -ENOMEM.
 */
int opts_split_ids(const char *list, char ***out);

#endif
