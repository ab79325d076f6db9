// SPDX-License-Identifier: MIT
/* Size arguments and human readable sizes. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "tools/common/size.h"

typedef unsigned __int128 u128;

static int suffix_shift(char c)
{
	switch (tolower((unsigned char)c)) {
	case 'b':
		return 0;
	case 'k':
		return 10;
	case 'm':
		return 20;
	case 'g':
		return 30;
	case 't':
		return 40;
	case 'p':
		return 50;
	case 'e':
		return 60;
	default:
		return -1;
	}
}

/* Digits in base 10 or 16 from *p; -ERANGE past INT64_MAX. */
static int parse_digits(const char **p, unsigned int base, u128 *val)
{
	const char *q = *p;

	*val = 0;
	for (; isxdigit((unsigned char)*q); q++) {
		int d = isdigit((unsigned char)*q) ? *q - '0' :
			tolower((unsigned char)*q) - 'a' + 10;

		if (d >= (int)base)
			break;
		*val = *val * base + d;
		if (*val > INT64_MAX)
			return -ERANGE;
	}
	if (q == *p)
		return -EINVAL;
	*p = q;
	return 0;
}

/* ".5" after the whole number: frac / den; a lone "." is allowed. */
static void parse_fraction(const char **p, u128 *frac, u128 *den)
{
	const char *q = *p;

	*frac = 0;
	*den = 1;
	if (*q != '.')
		return;
	for (q++; isdigit((unsigned char)*q); q++) {
		if (*den >= 10000000000000000000ULL)
			continue;	/* far below one byte */
		*frac = *frac * 10 + (*q - '0');
		*den *= 10;
	}
	*p = q;
}

int parse_size(const char *s, uint64_t *out)
{
	const char *p = s;
	u128 val, frac = 0, den = 1;
	int shift = 0, ret;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '+')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		ret = parse_digits(&p, 16, &val);
	} else {
		ret = parse_digits(&p, 10, &val);
		if (!ret)
			parse_fraction(&p, &frac, &den);
	}
	if (ret)
		return ret;
	if (*p) {
		shift = suffix_shift(*p++);
		if (shift < 0 || *p)
			return -EINVAL;
	}
	/* a fraction of a byte makes no sense */
	if (frac && !shift)
		return -EINVAL;
	val = (val << shift) + (((frac << shift) + den / 2) / den);
	if (val > INT64_MAX)
		return -ERANGE;
	*out = (uint64_t)val;
	return 0;
}

char *size_to_str(char *buf, size_t len, uint64_t val)
{
	static const char *const units[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"
	};
	double v = (double)val;
	unsigned int i = 0;

	/* the next unit as soon as the number would need four digits */
	while (v >= 1000.0 && i < 6) {
		v /= 1024.0;
		i++;
	}
	snprintf(buf, len, "%0.3g %s", v, units[i]);
	return buf;
}

char *size_to_io_str(char *buf, size_t len, double val)
{
	static const char *const units[] = {
		" bytes", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB"
	};
	unsigned int i = 0;
	char *whole;

	while (val >= 1024.0 && i < 6) {
		val /= 1024.0;
		i++;
	}
	snprintf(buf, len, "%.3f", val);
	whole = strstr(buf, ".000");
	if (whole)
		*whole = 0;
	snprintf(buf + strlen(buf), len - strlen(buf), "%s", units[i]);
	return buf;
}
