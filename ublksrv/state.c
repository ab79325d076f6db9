// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "log.h"
#include "state.h"

/* The state letter after "(comm)" in /proc/PID/stat; 0 if unreadable. */
static char pid_state(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

bool pid_alive(int pid)
{
	char st;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	st = pid_state(pid);
	return st != 'Z' && st != 'X';
}

/* A user's own devices are recorded in the user's runtime folder. */
const char *run_dir(void)
{
	static char user_dir[PATH_MAX];
	const char *d = getenv("UBLK_QCOW_RUN_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (d && *d)
		return d;
	if (geteuid() == 0 || !xdg || *xdg != '/')
		return UBLK_RUN_DIR_DEFAULT;
	if (!user_dir[0])
		snprintf(user_dir, sizeof(user_dir), "%s/ublk-qcow", xdg);
	return user_dir;
}

static void state_path(int dev_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ublk%d.json", run_dir(), dev_id);
}

void run_log_path(int dev_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ublk%d.log", run_dir(), dev_id);
}

static struct json_object *tids_json(const struct run_state *st)
{
	struct json_object *a = json_object_new_array();
	unsigned int i;

	for (i = 0; a && i < st->nr_queues; i++)
		json_object_array_add(a, json_object_new_int(st->tids[i]));
	return a;
}

static struct json_object *dirs_json(const char *const *dirs)
{
	struct json_object *a = json_object_new_array();

	for (; a && *dirs; dirs++)
		json_object_array_add(a, json_object_new_string(*dirs));
	return a;
}

static struct json_object *bitmap_json(const struct qcow_bitmap_info *b)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(b->name));
	json_object_object_add(o, "enabled",
			       json_object_new_boolean(b->enabled));
	json_object_object_add(o, "granularity",
			       json_object_new_uint64(b->granularity));
	json_object_object_add(o, "dirty-bytes",
			       json_object_new_uint64(b->dirty_bytes));
	json_object_object_add(o, "in-use",
			       json_object_new_boolean(b->in_use));
	if (b->broken)
		json_object_object_add(o, "broken",
				       json_object_new_string(b->broken));
	return o;
}

static struct json_object *bitmaps_json(const struct run_state *st)
{
	struct json_object *a = json_object_new_array();
	int i;

	for (i = 0; a && i < st->nr_bitmaps; i++)
		json_object_array_add(a, bitmap_json(&st->bitmaps[i]));
	return a;
}

/* The image's format and how it was opened: recover opens it so again. */
static void open_json(struct json_object *o, const struct run_state *st)
{
	if (st->format != QCOW_FMT_NONE)
		json_object_object_add(o, "format", json_object_new_string(
					qcow_format_name(st->format)));
	json_object_object_add(o, "format-probed",
			       json_object_new_boolean(st->format_probed));
	json_object_object_add(o, "untrusted",
			       json_object_new_boolean(st->untrusted));
	if (st->allow_dirs && st->allow_dirs[0])
		json_object_object_add(o, "allow-dirs",
				       dirs_json(st->allow_dirs));
	json_object_object_add(o, "allow-block-devices",
			       json_object_new_boolean(
					st->allow_block_devices));
	if (st->snapshot)
		json_object_object_add(o, "snapshot",
				       json_object_new_string(st->snapshot));
	json_object_object_add(o, "crypto-backend", json_object_new_string(
				qcow_crypto_backend_name(st->crypto_backend)));
	if (st->cache_opts)
		json_object_object_add(o, "cache-options",
				       json_object_new_string(st->cache_opts));
	if (st->crypto_used != QCOW_CRYPTO_AUTO)
		json_object_object_add(o, "crypto-backend-used",
				       json_object_new_string(
					qcow_crypto_backend_name(
						st->crypto_used)));
}

static struct json_object *state_json(const struct run_state *st)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int(st->dev_id));
	if (st->name[0])
		json_object_object_add(o, "name",
				       json_object_new_string(st->name));
	json_object_object_add(o, "image", json_object_new_string(st->image));
	json_object_object_add(o, "read-only",
			       json_object_new_boolean(st->read_only));
	json_object_object_add(o, "direct",
			       json_object_new_boolean(st->direct));
	open_json(o, st);
	json_object_object_add(o, "queues",
			       json_object_new_int(st->nr_queues));
	json_object_object_add(o, "depth", json_object_new_int(st->depth));
	json_object_object_add(o, "affinity", json_object_new_string(
				ublk_affinity_name(st->affinity)));
	json_object_object_add(o, "pid", json_object_new_int(st->pid));
	if (st->tids)
		json_object_object_add(o, "queue-tids", tids_json(st));
	if (st->nr_bitmaps > 0)
		json_object_object_add(o, "bitmaps", bitmaps_json(st));
	return o;
}

/* Written to a temporary name and renamed: readers see old or new. */
int run_state_save(const struct run_state *st)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	struct json_object *o;
	int ret = 0;

	if (mkdir(run_dir(), 0755) < 0 && errno != EEXIST) {
		ublk_errno(-errno, "cannot create %s", run_dir());
		return -errno;
	}
	state_path(st->dev_id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	o = state_json(st);
	if (!o)
		return -ENOMEM;
	if (json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PRETTY) < 0 ||
	    rename(tmp, path) < 0) {
		ret = -EIO;
		ublk_err("cannot write %s", path);
		unlink(tmp);
	}
	json_object_put(o);
	return ret;
}

static int get_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int(v)
						      : 0;
}

static bool get_bool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	       json_object_get_boolean(v);
}

/* AUTO when absent or unknown */
static enum qcow_crypto_backend get_crypto(struct json_object *o,
					   const char *key)
{
	enum qcow_crypto_backend b = QCOW_CRYPTO_AUTO;
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) &&
	    qcow_crypto_backend_by_name(json_object_get_string(v), &b) < 0)
		b = QCOW_CRYPTO_AUTO;
	return b;
}

static enum qcow_format get_format(struct json_object *o)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, "format", &v))
		return QCOW_FMT_NONE;
	return qcow_format_by_name(json_object_get_string(v));
}

int run_state_load(int dev_id, struct run_state *st)
{
	char path[PATH_MAX];
	struct json_object *o, *v;

	memset(st, 0, sizeof(*st));
	state_path(dev_id, path, sizeof(path));
	if (access(path, R_OK) < 0)
		return -errno;
	o = json_object_from_file(path);
	if (!o)
		return -EINVAL;
	st->dev_id = dev_id;
	if (json_object_object_get_ex(o, "image", &v))
		snprintf(st->image, sizeof(st->image), "%s",
			 json_object_get_string(v));
	/* it becomes a path: a record edited into "../x" names nothing */
	if (json_object_object_get_ex(o, "name", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    name_valid(json_object_get_string(v)))
		snprintf(st->name, sizeof(st->name), "%s",
			 json_object_get_string(v));
	st->read_only = get_bool(o, "read-only");
	st->direct = get_bool(o, "direct");
	st->format = get_format(o);
	st->format_probed = get_bool(o, "format-probed");
	st->untrusted = get_bool(o, "untrusted");
	st->allow_block_devices = get_bool(o, "allow-block-devices");
	if (json_object_object_get_ex(o, "snapshot", &v) &&
	    json_object_is_type(v, json_type_string)) {
		snprintf(st->snapshot_buf, sizeof(st->snapshot_buf), "%s",
			 json_object_get_string(v));
		st->snapshot = st->snapshot_buf;
	}
	if (json_object_object_get_ex(o, "cache-options", &v) &&
	    json_object_is_type(v, json_type_string)) {
		snprintf(st->cache_opts_buf, sizeof(st->cache_opts_buf), "%s",
			 json_object_get_string(v));
		st->cache_opts = st->cache_opts_buf;
	}
	st->crypto_backend = get_crypto(o, "crypto-backend");
	st->crypto_used = get_crypto(o, "crypto-backend-used");
	st->nr_queues = get_int(o, "queues");
	st->depth = get_int(o, "depth");
	/* a record without it (or with a name unknown) pins as add did */
	if (!json_object_object_get_ex(o, "affinity", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    ublk_affinity_by_name(json_object_get_string(v), &st->affinity))
		st->affinity = UBLK_AFFINITY_QUEUE;
	st->pid = get_int(o, "pid");
	json_object_put(o);
	return st->image[0] ? 0 : -EINVAL;
}

int run_state_queue_tids(int dev_id, int *tids, int max)
{
	char path[PATH_MAX];
	struct json_object *o, *a;
	int i, n = 0;

	state_path(dev_id, path, sizeof(path));
	if (access(path, R_OK) < 0)
		return 0;
	o = json_object_from_file(path);
	if (!o)
		return 0;
	if (json_object_object_get_ex(o, "queue-tids", &a) &&
	    json_object_is_type(a, json_type_array)) {
		n = json_object_array_length(a);
		n = n < max ? n : max;
		for (i = 0; i < n; i++)
			tids[i] = json_object_get_int(
					json_object_array_get_idx(a, i));
	}
	json_object_put(o);
	return n;
}

void run_state_free_dirs(char **dirs)
{
	char **d;

	for (d = dirs; d && *d; d++)
		free(*d);
	free(dirs);
}

static char **dirs_from_json(struct json_object *a)
{
	int i, n = json_object_array_length(a);
	char **dirs = calloc(n + 1, sizeof(*dirs));

	for (i = 0; dirs && i < n; i++) {
		dirs[i] = strdup(json_object_get_string(
					json_object_array_get_idx(a, i)));
		if (!dirs[i]) {
			run_state_free_dirs(dirs);
			return NULL;
		}
	}
	return dirs;
}

/* The array under key in the device's state file (a new reference), or NULL. */
static struct json_object *state_array(int dev_id, const char *key)
{
	char path[PATH_MAX];
	struct json_object *o, *a, *ret = NULL;

	state_path(dev_id, path, sizeof(path));
	if (access(path, R_OK) < 0)
		return NULL;
	o = json_object_from_file(path);
	if (!o)
		return NULL;
	if (json_object_object_get_ex(o, key, &a) &&
	    json_object_is_type(a, json_type_array))
		ret = json_object_get(a);
	json_object_put(o);
	return ret;
}

char **run_state_allow_dirs(int dev_id)
{
	struct json_object *a = state_array(dev_id, "allow-dirs");
	char **dirs;

	if (!a)
		return NULL;
	dirs = dirs_from_json(a);
	json_object_put(a);
	return dirs;
}

struct json_object *run_state_bitmaps(int dev_id)
{
	return state_array(dev_id, "bitmaps");
}

void run_state_remove(int dev_id, int pid)
{
	char path[PATH_MAX];
	struct run_state st;

	if (pid && run_state_load(dev_id, &st) == 0 && st.pid != pid)
		return;
	state_path(dev_id, path, sizeof(path));
	unlink(path);
}

int run_state_find_image(const char *image, struct run_state *st)
{
	char want[PATH_MAX], have[PATH_MAX];
	struct dirent *d;
	int id, ret = -ENOENT;
	DIR *dir;

	if (!realpath(image, want))
		return -errno;
	dir = opendir(run_dir());
	if (!dir)
		return -ENOENT;
	while (ret < 0 && (d = readdir(dir))) {
		if (sscanf(d->d_name, "ublk%d.json", &id) != 1 ||
		    run_state_load(id, st) < 0 || !pid_alive(st->pid))
			continue;
		if (realpath(st->image, have) && !strcmp(have, want))
			ret = 0;
	}
	closedir(dir);
	return ret;
}
