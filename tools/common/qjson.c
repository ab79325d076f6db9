// SPDX-License-Identifier: MIT
/* JSON output laid out as qemu-img prints it. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/qjson.h"

#define QDICT_BUCKETS 512

struct member {
	const char *key;
	struct json_object *val;
	unsigned int bucket;
	unsigned int index;
};

/* The bucket of key in QEMU's QDict: the classic TDB string hash. */
static unsigned int qdict_bucket(const char *key)
{
	size_t len = strlen(key), i;
	uint32_t h = 0x238F13AFu * (uint32_t)len;

	for (i = 0; i < len; i++)
		h += (uint32_t)(unsigned char)key[i] << (i * 5 % 24);
	return (1103515243u * h + 12345u) % QDICT_BUCKETS;
}

/* Buckets in order; inside one bucket the member added last comes first. */
static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->index > y->index ? -1 : 1;
}

static struct json_object *order_object(struct json_object *obj)
{
	size_t n = json_object_object_length(obj), i = 0;
	struct json_object *out;
	struct member *m;

	m = calloc(n ? n : 1, sizeof(*m));
	out = json_object_new_object();
	if (!m || !out)
		goto fail;
	json_object_object_foreach(obj, key, val) {
		m[i].key = key;
		m[i].val = val;
		m[i].bucket = qdict_bucket(key);
		m[i].index = i;
		i++;
	}
	qsort(m, n, sizeof(*m), member_cmp);
	for (i = 0; i < n; i++) {
		if (json_object_object_add(out, m[i].key,
					   qjson_order(m[i].val)) < 0)
			goto fail;
	}
	free(m);
	return out;
fail:
	free(m);
	json_object_put(out);
	return NULL;
}

static struct json_object *order_array(struct json_object *arr)
{
	size_t n = json_object_array_length(arr), i;
	struct json_object *out = json_object_new_array();

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		if (json_object_array_add(out, qjson_order(v)) < 0) {
			json_object_put(out);
			return NULL;
		}
	}
	return out;
}

struct json_object *qjson_order(struct json_object *obj)
{
	switch (json_object_get_type(obj)) {
	case json_type_object:
		return order_object(obj);
	case json_type_array:
		return order_array(obj);
	default:
		return json_object_get(obj);
	}
}

/* An opening bracket whose closing one follows on the next line. */
static size_t empty_container(const char *p)
{
	const char *q = p + 1;

	if (*q != '\n')
		return 0;
	for (q++; *q == '\t'; q++)
		;
	if (*p == '{' && *q == '}')
		return q - p + 1;
	return 0;
}

/* Decodes one UTF-8 sequence; 0 when it is not valid. */
static size_t utf8_decode(const unsigned char *p, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (p[0] >= 0xf0 && p[0] < 0xf5) {
		n = 4;
		c = p[0] & 0x07;
	} else if (p[0] >= 0xe0) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xc2 && p[0] < 0xe0) {
		n = 2;
		c = p[0] & 0x1f;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c < 0xe000))
		return 0;
	*cp = c;
	return n;
}

/*
 * One character inside a string: qemu-img escapes everything outside
 * printable ASCII as \uXXXX (upper case hex), json-c leaves UTF-8 as is.
 */
static const char *put_string_char(FILE *f, const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	uint32_t cp;
	size_t n;

	if (*p == '\\' && p[1] == 'u' && p[2] && p[3] && p[4] && p[5]) {
		fprintf(f, "\\u%c%c%c%c", toupper(u[2]), toupper(u[3]),
			toupper(u[4]), toupper(u[5]));
		return p + 6;
	}
	if (*p == '\\' && p[1]) {
		fputc(p[0], f);
		fputc(p[1], f);
		return p + 2;
	}
	if (*u < 0x7f) {
		fputc(*p, f);
		return p + 1;
	}
	if (*u == 0x7f) {
		fputs("\\u007F", f);
		return p + 1;
	}
	n = utf8_decode(u, &cp);
	if (!n) {
		fputs("\\uFFFD", f);
		return p + 1;
	}
	if (cp >= 0x10000) {
		cp -= 0x10000;
		fprintf(f, "\\u%04X\\u%04X", 0xd800 + (cp >> 10),
			0xdc00 + (cp & 0x3ff));
	} else {
		fprintf(f, "\\u%04X", cp);
	}
	return p + n;
}

/*
 * json-c indents with tabs and spreads empty containers over two lines;
 * qemu-img indents with four spaces and prints {}.  A tab or a
 * newline never occurs raw inside a JSON string, so this is safe.
 */
static void print_relaid(FILE *f, const char *p)
{
	bool in_string = false;
	size_t skip;

	while (*p) {
		if (in_string) {
			if (*p == '"')
				in_string = false;
			else {
				p = put_string_char(f, p);
				continue;
			}
		} else if (*p == '"') {
			in_string = true;
		} else if (*p == '\t') {
			fputs("    ", f);
			p++;
			continue;
		}
		/* but an empty list keeps its two lines ("flags" of a bitmap) */
		skip = (!in_string && *p == '{') ? empty_container(p) : 0;
		if (skip) {
			fputc(*p, f);
			fputc(p[skip - 1], f);
			p += skip;
			continue;
		}
		fputc(*p++, f);
	}
	fputc('\n', f);
}

int qjson_print(FILE *f, struct json_object *obj)
{
	int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_PRETTY_TAB |
		    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE;
	struct json_object *ordered = qjson_order(obj);
	const char *s;

	if (!ordered)
		return -1;
	s = json_object_to_json_string_ext(ordered, flags);
	if (s)
		print_relaid(f, s);
	json_object_put(ordered);
	return s ? 0 : -1;
}

static int is_composite(struct json_object *v)
{
	return json_object_is_type(v, json_type_object) ||
	       json_object_is_type(v, json_type_array);
}

static void dump_value(FILE *f, struct json_object *v, int indent);

static void dump_object(FILE *f, struct json_object *obj, int indent)
{
	json_object_object_foreach(obj, key, val) {
		char *k = strdup(key), *c;

		for (c = k; c && *c; c++)
			if (*c == '-')
				*c = ' ';
		fprintf(f, "%*s%s:%c", indent * 4, "", k ? k : key,
			is_composite(val) ? '\n' : ' ');
		free(k);
		dump_value(f, val, indent + 1);
	}
}

static void dump_array(FILE *f, struct json_object *arr, int indent)
{
	size_t n = json_object_array_length(arr), i;

	for (i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		fprintf(f, "%*s[%zu]:%c", indent * 4, "", i,
			is_composite(v) ? '\n' : ' ');
		dump_value(f, v, indent + 1);
	}
}

static void dump_value(FILE *f, struct json_object *v, int indent)
{
	switch (json_object_get_type(v)) {
	case json_type_object:
		dump_object(f, v, indent);
		break;
	case json_type_array:
		dump_array(f, v, indent);
		break;
	case json_type_string:
		fprintf(f, "%s\n", json_object_get_string(v));
		break;
	default:
		fprintf(f, "%s\n", json_object_to_json_string_ext(v,
					JSON_C_TO_STRING_PLAIN));
		break;
	}
}

void qjson_dump_human(FILE *f, struct json_object *obj, int indent)
{
	struct json_object *ordered = qjson_order(obj);

	if (ordered)
		dump_value(f, ordered, indent);
	json_object_put(ordered);
}
