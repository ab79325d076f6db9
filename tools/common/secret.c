// SPDX-License-Identifier: MIT
/* --object secret,... and --image-opts strings. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tools/common/blkdebug.h"
#include "tools/common/msg.h"
#include "qcow.h"
#include "tools/common/secret.h"

#define SECRET_MAX	(64u << 10)

struct secret {
	char *id;
	char *data;		/* map_len bytes mapped apart */
	size_t len;
	size_t map_len;
};

static struct secret *secrets;
static int nr_secrets;
static bool image_opts;

void tool_image_opts_set(bool on)
{
	image_opts = on;
}

bool tool_image_opts(void)
{
	return image_opts;
}

static void wipe_secrets(void)
{
	int i;

	for (i = 0; i < nr_secrets; i++) {
		explicit_bzero(secrets[i].data, secrets[i].map_len);
		munlock(secrets[i].data, secrets[i].map_len);
		munmap(secrets[i].data, secrets[i].map_len);
		free(secrets[i].id);
	}
	free(secrets);
	secrets = NULL;
	nr_secrets = 0;
}

/*
 * The next "key=value" of a qemu option string at *p (",," a comma in
 * the value); key and value are malloc'd.  Returns 1, 0 at the end, or
 * -ENOMEM.
 */
static int next_pair(const char **p, char **key, char **val)
{
	const char *s = *p, *eq;
	size_t n = 0;
	char *v;

	if (!*s)
		return 0;
	eq = strchr(s, '=');
	if (!eq || memchr(s, ',', (size_t)(eq - s))) {
		eq = s + strcspn(s, ",");
		*key = strndup(s, (size_t)(eq - s));
		*val = NULL;
		*p = *eq ? eq + 1 : eq;
		return *key ? 1 : -ENOMEM;
	}
	*key = strndup(s, (size_t)(eq - s));
	v = malloc(strlen(eq));
	if (!*key || !v) {
		free(*key);
		free(v);
		return -ENOMEM;
	}
	for (s = eq + 1; *s; s++) {
		if (*s == ',' && s[1] != ',')
			break;
		if (*s == ',')
			s++;
		v[n++] = *s;
	}
	v[n] = 0;
	*val = v;
	*p = *s ? s + 1 : s;
	return 1;
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes src into dst (room for strlen(src) bytes); -EINVAL when bad. */
static int b64_decode(const char *src, char *dst, size_t *len)
{
	uint32_t acc = 0;
	int bits = 0, v;
	size_t n = 0;

	for (; *src && *src != '='; src++) {
		v = b64_value((unsigned char)*src);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dst[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	while (*src == '=')
		src++;
	if (*src)
		return -EINVAL;
	*len = n;
	return 0;
}

static int read_secret_file(const char *path, char **out, size_t *len)
{
	char *buf = malloc(SECRET_MAX + 1);
	size_t n = 0;
	ssize_t r = 0;
	int fd;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		tool_error("secret: cannot open '%s': %s", path,
			   strerror(errno));
		free(buf);
		return -errno;
	}
	while ((r = read(fd, buf + n, SECRET_MAX + 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (r < 0 || n > SECRET_MAX) {
		tool_error("secret: cannot read '%s': %s", path,
			   r < 0 ? strerror(errno) : "larger than 64 KiB");
		explicit_bzero(buf, n);
		free(buf);
		return -EINVAL;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

struct object_args {
	char *type, *id, *data, *file, *format;
};

static void object_args_free(struct object_args *a)
{
	if (a->data)
		explicit_bzero(a->data, strlen(a->data));
	free(a->type);
	free(a->id);
	free(a->data);
	free(a->file);
	free(a->format);
}

static int object_parse(const char *arg, struct object_args *a)
{
	const char *p = arg;
	char *key, *val;
	int ret;

	while ((ret = next_pair(&p, &key, &val)) > 0) {
		char **slot = NULL;

		if (!val && !a->type)
			slot = &a->type;
		else if (val && !strcmp(key, "qom-type"))
			slot = &a->type;
		else if (val && !strcmp(key, "id"))
			slot = &a->id;
		else if (val && !strcmp(key, "data"))
			slot = &a->data;
		else if (val && !strcmp(key, "file"))
			slot = &a->file;
		else if (val && !strcmp(key, "format"))
			slot = &a->format;
		if (!slot) {
			tool_error("--object: unsupported parameter '%s'", key);
			free(key);
			free(val);
			return -EINVAL;
		}
		free(*slot);
		*slot = val ? val : key;
		if (val)
			free(key);
	}
	return ret;
}

static int object_value(const struct object_args *a, char **data,
			size_t *len)
{
	char *raw = NULL;
	size_t n = 0;
	int ret;

	if (!!a->data == !!a->file) {
		tool_error("secret '%s': give exactly one of data= and file=",
			   a->id);
		return -EINVAL;
	}
	if (a->data) {
		n = strlen(a->data);
		raw = malloc(n + 1);
		if (!raw)
			return -ENOMEM;
		memcpy(raw, a->data, n + 1);
	} else {
		ret = read_secret_file(a->file, &raw, &n);
		if (ret < 0)
			return ret;
	}
	if (a->format && !strcmp(a->format, "base64")) {
		if (b64_decode(raw, raw, &n) < 0) {
			tool_error("secret '%s': the data is not base64",
				   a->id);
			explicit_bzero(raw, strlen(raw));
			free(raw);
			return -EINVAL;
		}
	} else if (a->format && strcmp(a->format, "raw")) {
		tool_error("secret '%s': format must be raw or base64",
			   a->id);
		free(raw);
		return -EINVAL;
	}
	*data = raw;
	*len = n;
	return 0;
}

/* A copy of len bytes in pages of their own, locked and out of core dumps. */
static char *secret_pages(const char *data, size_t len, size_t *map_len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = (len + page) / page * page;
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, n, MADV_DONTDUMP);
	mlock(p, n);		/* best effort: RLIMIT_MEMLOCK may refuse */
	memcpy(p, data, len);
	*map_len = n;
	return p;
}

int tool_object(const char *arg)
{
	struct object_args a = { 0 };
	struct secret *grown;
	char *data = NULL, *pages;
	size_t len = 0, map_len = 0;
	int ret;

	ret = object_parse(arg, &a);
	if (!ret && (!a.type || strcmp(a.type, "secret"))) {
		tool_error("--object: only 'secret' objects are supported");
		ret = -EINVAL;
	}
	if (!ret && !a.id) {
		tool_error("--object: a secret needs an id=");
		ret = -EINVAL;
	}
	/* before the secret is read: no core dump may hold it or its keys */
	if (!ret && qcow_no_core_dumps() < 0) {
		tool_error("--object: cannot keep this process out of core "
			   "dumps: %s", strerror(errno));
		ret = -EPERM;
	}
	if (!ret)
		ret = object_value(&a, &data, &len);
	if (ret < 0)
		goto out;
	pages = secret_pages(data, len, &map_len);
	explicit_bzero(data, len);
	free(data);
	grown = pages ? realloc(secrets, (size_t)(nr_secrets + 1) *
				sizeof(*grown)) : NULL;
	if (!grown) {
		if (pages) {
			explicit_bzero(pages, map_len);
			munmap(pages, map_len);
		}
		tool_error("--object: out of memory");
		ret = -ENOMEM;
		goto out;
	}
	if (!nr_secrets)
		atexit(wipe_secrets);
	secrets = grown;
	secrets[nr_secrets].id = a.id;
	secrets[nr_secrets].data = pages;
	secrets[nr_secrets].len = len;
	secrets[nr_secrets].map_len = map_len;
	nr_secrets++;
	a.id = NULL;
out:
	object_args_free(&a);
	return ret;
}

int tool_secret(const char *file, const char *id, const char **key,
		size_t *len)
{
	int i;

	for (i = nr_secrets - 1; i >= 0; i--) {
		if (!strcmp(secrets[i].id, id)) {
			*key = secrets[i].data;
			*len = secrets[i].len;
			return 0;
		}
	}
	tool_error("%s: no secret with id '%s' (give it with --object "
		   "secret,id=%s,...)", file, id, id);
	return -ENOENT;
}

void tool_image_free(struct tool_image *t)
{
	unsigned int i;

	free(t->filename);
	free(t->driver);
	free(t->key_secret);
	for (i = 0; i < t->nr_backing; i++)
		free(t->backing_secret[i]);
	qcow_blkdebug_free(t->blkdebug);
	memset(t, 0, sizeof(*t));
}

int tool_image_secrets(struct tool_image *t, struct qcow_open_opts *o)
{
	unsigned int i;
	int ret;

	if (t->key_secret) {
		ret = tool_secret(t->filename, t->key_secret, &o->key,
				  &o->key_len);
		if (ret < 0)
			return ret;
	}
	for (i = 0; i < t->nr_backing; i++) {
		t->backing_keys[i].data = NULL;
		t->backing_keys[i].len = 0;
		if (!t->backing_secret[i])
			continue;
		ret = tool_secret(t->filename, t->backing_secret[i],
				  &t->backing_keys[i].data,
				  &t->backing_keys[i].len);
		if (ret < 0)
			return ret;
	}
	o->backing_keys = t->backing_keys;
	o->nr_backing_keys = t->nr_backing;
	return 0;
}

int tool_chain_key(const char *arg, unsigned int depth, struct qcow_key *key)
{
	struct qcow_open_opts o = { 0 };
	struct tool_image t;
	int ret;

	key->data = NULL;
	key->len = 0;
	ret = tool_image_parse(arg, tool_image_opts(), arg, &t);
	if (!ret)
		ret = tool_image_secrets(&t, &o);
	if (!ret && !depth) {
		key->data = o.key;
		key->len = o.key_len;
	} else if (!ret && depth <= o.nr_backing_keys) {
		*key = o.backing_keys[depth - 1];
	}
	tool_image_free(&t);
	return ret;
}

/* backing.[backing.]...encrypt.key-secret: the slot of that level */
static int backing_secret_slot(struct tool_image *out, const char *key,
			       char ***slot)
{
	static const char lvl[] = "backing.";
	const char *p = key;
	unsigned int depth = 0;

	while (!strncmp(p, lvl, sizeof(lvl) - 1)) {
		p += sizeof(lvl) - 1;
		depth++;
	}
	if (strcmp(p, "encrypt.key-secret")) {
		tool_error("image options: unsupported option '%s'", key);
		return -EINVAL;
	}
	if (depth > TOOL_BACKING_KEYS) {
		tool_error("image options: '%s': secrets are taken for %d "
			   "levels of backing files, not %u", key,
			   TOOL_BACKING_KEYS, depth);
		return -EINVAL;
	}
	if (out->nr_backing < depth)
		out->nr_backing = depth;
	*slot = &out->backing_secret[depth - 1];
	return 0;
}

static int image_pair(struct tool_image *out, const char *shown, char *key,
		      char *val)
{
	char **slot = NULL;
	int ret;

	ret = tool_blkdebug_pair(out, shown, key, val);
	if (ret != -ENOENT) {
		if (ret < 0)
			return ret;
		free(key);
		free(val);
		return 0;
	}
	if (!strncmp(key, "backing.", 8)) {
		if (backing_secret_slot(out, key, &slot) < 0)
			return -EINVAL;
	} else if (!strcmp(key, "driver"))
		slot = &out->driver;
	else if (!strcmp(key, "file")) {
		/* QEMU takes a string here as the name of a node */
		tool_error("%s: Cannot find device='%s' nor node-name='%s'",
			   shown, val ? val : "", val ? val : "");
		return -EINVAL;
	} else if (!strcmp(key, "file.filename")) {
		slot = &out->filename;
		out->nested_file = true;
	} else if (!strcmp(key, "filename")) {
		slot = &out->filename;
		out->top_filename = true;
	}
	else if (!strcmp(key, "encrypt.key-secret"))
		slot = &out->key_secret;
	else if (!strcmp(key, "file.driver") && val && !strcmp(val, "file"))
		slot = NULL;
	else if (val &&
		 (ret = qcow_cache_opt(&out->cache, key, val)) != -ENOENT) {
		if (ret < 0) {
			tool_error("%s", qcow_strerror());
			return -EINVAL;
		}
		slot = NULL;
	} else {
		tool_error("image options: unsupported option '%s'", key);
		return -EINVAL;
	}
	if (slot && !val) {
		tool_error("image options: '%s' needs a value", key);
		return -EINVAL;
	}
	if (slot) {
		free(*slot);
		*slot = val;
	} else {
		free(val);
	}
	free(key);
	return 0;
}

/*
 * "filename" belongs to the "file" driver at the top (the file itself,
 * no format), "file.filename" to any other; in qemu-img's words.
 */
static int check_driver(const char *arg, struct tool_image *t)
{
	bool file = t->driver && !strcmp(t->driver, "file");

	if (file && !t->top_filename) {
		tool_error("%s: The 'file' block driver requires a file name",
			   arg);
		return -EINVAL;
	}
	if (file && t->nested_file) {
		tool_error("%s: Block protocol 'file' doesn't support the option 'file.filename'",
			   arg);
		return -EINVAL;
	}
	if (!file && t->top_filename) {
		tool_error("%s: %s", arg, t->driver ?
			   "A block device must be specified for \"file\"" :
			   "Must specify either driver or file");
		return -EINVAL;
	}
	if (file) {
		/* read as raw, shown as "file" (tool_format_name()) */
		free(t->driver);
		t->driver = strdup("raw");
		if (!t->driver)
			return -ENOMEM;
		t->protocol = true;
	}
	return 0;
}

int tool_image_parse(const char *arg, bool opts, const char *shown,
		     struct tool_image *out)
{
	const char *p = arg;
	char *key, *val;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!opts) {
		out->filename = strdup(arg);
		return out->filename ? 0 : -ENOMEM;
	}
	while ((ret = next_pair(&p, &key, &val)) > 0) {
		ret = image_pair(out, shown, key, val);
		if (ret < 0) {
			free(key);
			free(val);
			break;
		}
	}
	if (!ret)
		ret = tool_blkdebug_check(shown, out);
	if (!ret)
		ret = check_driver(shown, out);
	if (!ret && !out->filename) {
		tool_error("image options '%s': no file.filename", arg);
		ret = -EINVAL;
	}
	if (ret < 0)
		tool_image_free(out);
	return ret;
}
