// SPDX-License-Identifier: MIT
/*
 * LUKS1 key slots (qcow/crypto/): our headers round trip; headers made
 * by cryptsetup (luksFormat --type luks1 with a known master key) and by
 * qemu-img in qcow2 images unlock to the right key, and the data qemu-io
 * wrote decrypts with our cipher at host sector numbers; cryptsetup and
 * qemu-io unlock the headers we make; damaged headers fail naming the
 * field.
 */
#include "cryptotest.h"

#define SECT QCRYPTO_SECTOR_SIZE

static const char pass[] = "correct horse";

static void create_opts(struct qcrypto_luks_create_opts *o, const char *alg,
			const char *mode, const char *ivgen,
			const char *ivhash, const char *hash)
{
	memset(o, 0, sizeof(*o));
	ct_spec(&o->spec, alg, mode, ivgen, ivhash);
	snprintf(o->hash_alg, sizeof(o->hash_alg), "%s", hash);
	o->iter_time_ms = 10;
}

/* both ciphers encrypt a random run of sectors alike */
static bool same_cipher(struct qcrypto_cipher *a, struct qcrypto_cipher *b)
{
	uint8_t x[4 * SECT], y[4 * SECT];

	tl_fill_rand(x, sizeof(x), 42);
	memcpy(y, x, sizeof(x));
	return !qcrypto_encrypt(a, 1000, x, sizeof(x)) &&
	       !qcrypto_encrypt(b, 1000, y, sizeof(y)) &&
	       !memcmp(x, y, sizeof(x)) && memcmp(x + SECT, x, SECT);
}

/* parse, unlock with pass and with a wrong one; *out the unlocked cipher */
static const char *parse_unlock(const uint8_t *area, size_t len,
				const char *pw, struct qcrypto_luks **lp,
				struct qcrypto_cipher **out)
{
	static char err[256];
	struct qcrypto_cipher *c = NULL;
	char why[300];
	int ret;

	ret = qcrypto_luks_parse(area, len, lp, err, sizeof(err));
	if (ret < 0) {
		snprintf(why, sizeof(why), "parse: %s (%s)", strerror(-ret),
			 err);
		memcpy(err, why, sizeof(err) - 1);
		err[sizeof(err) - 1] = 0;
		return err;
	}
	ret = qcrypto_luks_unlock(*lp, area, "wrong", 5,
				  QCRYPTO_BACKEND_OPENSSL, &c);
	if (ret != -EACCES) {
		qcrypto_cipher_free(c);
		return "a wrong passphrase was not refused with EACCES";
	}
	ret = qcrypto_luks_unlock(*lp, area, pw, strlen(pw),
				  QCRYPTO_BACKEND_OPENSSL, out);
	if (ret < 0) {
		snprintf(err, sizeof(err), "unlock: %s", strerror(-ret));
		return err;
	}
	return NULL;
}

/* the layout QEMU gives a header: slots 4 KiB aligned after the phdr */
static const char *check_layout(const struct qcrypto_luks *l,
				uint32_t key_bytes, size_t len)
{
	uint64_t stride = ((uint64_t)key_bytes * 4000 + SECT - 1) / SECT;
	struct qcrypto_luks_slot_info si;
	unsigned int i;

	stride = (stride + 7) / 8 * 8 * SECT;
	if (qcrypto_luks_payload_offset(l) != 4096 + 8 * stride ||
	    len != qcrypto_luks_payload_offset(l))
		return "payload offset / length not QEMU's";
	for (i = 0; i < QCRYPTO_LUKS_SLOTS; i++) {
		if (qcrypto_luks_slot(l, i, &si) < 0 ||
		    si.key_offset != 4096 + i * stride || si.stripes != 4000 ||
		    si.active != !i || (!i && si.iters < 1000))
			return "key slots not laid out as QEMU does";
	}
	if (qcrypto_luks_slot(l, 8, &si) != -EINVAL)
		return "slot 8 exists";
	if (qcrypto_luks_mk_iters(l) < 1000 ||
	    strlen(qcrypto_luks_uuid(l)) != 36)
		return "master key iterations or uuid";
	return NULL;
}

static void test_roundtrip(const char *alg, const char *mode,
			   const char *ivgen, const char *ivhash,
			   const char *hash, uint32_t key_bytes)
{
	struct qcrypto_luks_create_opts o;
	struct qcrypto_cipher *made = NULL, *got = NULL;
	struct qcrypto_luks *l = NULL;
	const struct qcrypto_spec *s;
	uint8_t *area = NULL;
	const char *why;
	size_t len;
	int ret;

	tl_begin("luks/roundtrip/%s-%s-%s%s%s-%s", alg, mode, ivgen,
		 ivhash[0] ? ":" : "", ivhash, hash[0] ? hash : "default");
	create_opts(&o, alg, mode, ivgen, ivhash, hash);
	ret = qcrypto_luks_create(&o, pass, strlen(pass),
				  QCRYPTO_BACKEND_OPENSSL, &area, &len, &made);
	if (ret < 0) {
		tl_fail("create: %s", strerror(-ret));
		return;
	}
	why = parse_unlock(area, len, pass, &l, &got);
	if (!why)
		why = check_layout(l, key_bytes, len);
	if (!why) {
		s = qcrypto_luks_spec(l);
		if (strcmp(s->cipher_alg, alg[0] ? alg : "aes-256") ||
		    strcmp(s->cipher_mode, mode[0] ? mode : "xts") ||
		    strcmp(s->ivgen_alg, ivgen[0] ? ivgen : "plain64") ||
		    strcmp(s->ivgen_hash_alg, ivhash) ||
		    strcmp(qcrypto_luks_hash(l), hash[0] ? hash : "sha256"))
			why = "the parsed spec is not the one created";
	}
	if (!why && !same_cipher(made, got))
		why = "the unlocked master key is not the created one";
	if (why)
		tl_fail("%s", why);
	else
		tl_pass();
	qcrypto_cipher_free(made);
	qcrypto_cipher_free(got);
	qcrypto_luks_free(l);
	free(area);
}

static bool have(const char *prog)
{
	return !tl_run("command -v %s >/dev/null 2>&1", prog);
}

/* luksDump's "Payload offset" in bytes; 0 when it says none */
static uint64_t dump_payload(const char *f)
{
	char cmd[700], line[64];
	unsigned long long v = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "cryptsetup luksDump '%s' | "
		 "sed -n 's/^Payload offset:[[:space:]]*//p'", f);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	if (fgets(line, sizeof(line), p))
		v = strtoull(line, NULL, 10);
	pclose(p);
	return v * SECT;
}

/*
 * cryptsetup formats a file with a known master key; we unlock it and
 * get a cipher that encrypts as one keyed with that master key.
 */
static void test_cryptsetup(const char *cs_cipher, unsigned int bits,
			    const char *hash, const char *alg,
			    const char *mode, const char *ivgen,
			    const char *ivhash)
{
	char dir[512], f[600], k[600], mkf[600];
	struct qcrypto_cipher *got = NULL, *want = NULL;
	struct qcrypto_luks *l = NULL;
	struct qcrypto_spec spec;
	uint8_t mk[64], *area = NULL;
	const char *why = NULL;
	size_t len;

	tl_begin("luks/cryptsetup/%s-%u-%s", cs_cipher, bits, hash);
	if (!have("cryptsetup")) {
		tl_skip("no cryptsetup");
		return;
	}
	snprintf(dir, sizeof(dir), "%s", tl_tmpdir());
	snprintf(f, sizeof(f), "%s/cs.img", dir);
	snprintf(k, sizeof(k), "%s/cs.key", dir);
	snprintf(mkf, sizeof(mkf), "%s/cs.mk", dir);
	tl_fill_rand(mk, sizeof(mk), bits);
	if (tl_write_file(k, pass, strlen(pass)) ||
	    tl_write_file(mkf, mk, bits / 8) ||
	    tl_run("truncate -s 3M '%s' && "
		  "cryptsetup luksFormat -q --type luks1 "
		  "--pbkdf-force-iterations 1000 --key-file '%s' "
		  "--master-key-file '%s' -c %s -s %u -h %s '%s' >&2", f, k,
		  mkf, cs_cipher, bits, hash, f)) {
		tl_fail("cryptsetup luksFormat failed");
		return;
	}
	area = tl_read_file(f, &len);
	if (!area) {
		tl_fail("cannot read %s", f);
		return;
	}
	why = parse_unlock(area, len, pass, &l, &got);
	ct_spec(&spec, alg, mode, ivgen, ivhash);
	if (!why && qcrypto_cipher_new(&spec, mk, bits / 8,
				       QCRYPTO_BACKEND_OPENSSL, &want) < 0)
		why = "cannot key a cipher with the master key";
	if (!why && (qcrypto_luks_payload_offset(l) != dump_payload(f) ||
		     strcmp(qcrypto_luks_hash(l), hash)))
		why = "payload offset or hash differ from luksDump's";
	if (!why && !same_cipher(want, got))
		why = "the unlocked key is not cryptsetup's master key";
	if (why)
		tl_fail("%s", why);
	else
		tl_pass();
	qcrypto_cipher_free(want);
	qcrypto_cipher_free(got);
	qcrypto_luks_free(l);
	free(area);
}

/*
 * cryptsetup reads our header: the passphrase opens it and its dump of
 * the master key keys a cipher that encrypts as ours.
 */
static void test_cryptsetup_reads_ours(const char *alg, const char *mode,
				       const char *ivgen, const char *ivhash)
{
	char f[600], k[600], mkf[600];
	struct qcrypto_luks_create_opts o;
	struct qcrypto_cipher *made = NULL, *dumped = NULL;
	uint8_t *area = NULL, *mk = NULL;
	const char *why = NULL;
	size_t len, mk_len = 0;

	tl_begin("luks/cryptsetup-reads-ours/%s-%s-%s", alg, mode, ivgen);
	if (!have("cryptsetup")) {
		tl_skip("no cryptsetup");
		return;
	}
	create_opts(&o, alg, mode, ivgen, ivhash, "");
	if (qcrypto_luks_create(&o, pass, strlen(pass),
				QCRYPTO_BACKEND_OPENSSL, &area, &len,
				&made) < 0) {
		tl_fail("create");
		return;
	}
	tl_path(f, sizeof(f), "ours.img");
	tl_path(k, sizeof(k), "ours.key");
	tl_path(mkf, sizeof(mkf), "ours.mk");
	unlink(mkf);
	if (tl_write_file(f, area, len) || tl_write_file(k, pass, strlen(pass)))
		why = "cannot write the header";
	else if (tl_run("truncate -s %zu '%s'", len + 1024 * 1024, f))
		why = "truncate";
	else if (tl_run("cryptsetup luksOpen --test-passphrase --key-file '%s' "
		       "'%s' >&2", k, f))
		why = "cryptsetup does not open our header with the passphrase";
	else if (tl_run("cryptsetup luksDump -q --dump-master-key --key-file "
		       "'%s' --master-key-file '%s' '%s' >/dev/null", k, mkf,
		       f) ||
		 !(mk = tl_read_file(mkf, &mk_len)))
		why = "cryptsetup luksDump --dump-master-key failed";
	else if (qcrypto_cipher_new(&o.spec, mk, mk_len,
				    QCRYPTO_BACKEND_OPENSSL, &dumped) < 0)
		why = "cryptsetup's master key does not key our spec";
	else if (!same_cipher(made, dumped))
		why = "cryptsetup's master key is not ours";
	if (why)
		tl_fail("%s", why);
	else
		tl_pass();
	qcrypto_cipher_free(made);
	qcrypto_cipher_free(dumped);
	free(mk);
	free(area);
}

/* ---- qcow2 LUKS images of qemu-img ---- */

#define QSEC "--object secret,id=s0,data='%s'"
#define QOPTS "driver=qcow2,file.filename='%s',encrypt.key-secret=s0"

/*
 * qemu-img makes a LUKS qcow2 image.  Its PBKDF2 benchmark gives up in
 * about one run in five on a 2-core VM ("Unable to get accurate CPU
 * usage"): up to 12 tries, as tests/helpers/pbkdf-retry.
 */
static int qemu_create(const char *img, const char *pw, const char *opts)
{
	int i, ret = -1;

	for (i = 0; i < 12 && ret; i++)
		ret = tl_run("qemu-img create -q -f qcow2 " QSEC " -o "
			    "encrypt.format=luks,encrypt.key-secret=s0,"
			    "encrypt.iter-time=10%s '%s' 4M >&2", pw, opts,
			    img);
	return ret;
}

/* qemu-io writes pattern pat at guest offset off (len bytes) */
static int qemu_write(const char *img, const char *pw, uint64_t off,
		      unsigned int len, int pat)
{
	return tl_run("qemu-io " QSEC " --image-opts " QOPTS
		     " -c 'write -P %d %llu %u' >/dev/null", pw, img, pat,
		     (unsigned long long)off, len);
}

/* the image's data at guest off decrypted by c must be pattern pat */
static const char *check_data(const uint8_t *file, size_t flen,
			      struct qcrypto_cipher *c, uint64_t off,
			      unsigned int len, int pat)
{
	uint64_t host = ct_qcow2_host(file, flen, off);
	uint8_t *buf;
	unsigned int i;
	const char *why = NULL;

	if (!host || host + len > flen)
		return "no data cluster where qemu-io wrote";
	buf = malloc(len);
	memcpy(buf, file + host, len);
	if (buf[0] == pat && buf[1] == pat)
		why = "the data is in clear";
	else if (qcrypto_decrypt(c, host / SECT, buf, len) < 0)
		why = "decrypt failed";
	for (i = 0; !why && i < len; i++)
		if (buf[i] != pat)
			why = "the data decrypted at HOST sector numbers is "
			      "not what qemu-io wrote";
	free(buf);
	return why;
}

static void test_qemu_image(const char *name, const char *opts)
{
	char img[512];
	struct qcrypto_cipher *got = NULL;
	struct qcrypto_luks *l = NULL;
	uint64_t hoff, hlen, guest = 65536 + 3 * SECT;
	uint8_t *file = NULL;
	const char *why = NULL;
	size_t flen;

	tl_begin("luks/qemu-image/%s", name);
	if (!have("qemu-img") || !have("qemu-io")) {
		tl_skip("no qemu-img or qemu-io");
		return;
	}
	tl_path(img, sizeof(img), "luks.qcow2");
	if (qemu_create(img, "pw", opts) ||
	    qemu_write(img, "pw", guest, 8192, 0x5c)) {
		tl_fail("qemu-img/qemu-io could not make the image");
		return;
	}
	file = tl_read_file(img, &flen);
	if (!file || ct_qcow2_fde(file, flen, &hoff, &hlen) < 0)
		why = "no full disk encryption header extension";
	else
		why = parse_unlock(file + hoff, hlen, "pw", &l, &got);
	if (!why && qcrypto_luks_payload_offset(l) != hlen)
		why = "payload offset is not the extension's length";
	if (!why)
		why = check_data(file, flen, got, guest, 8192, 0x5c);
	if (why)
		tl_fail("%s", why);
	else
		tl_pass();
	qcrypto_cipher_free(got);
	qcrypto_luks_free(l);
	free(file);
}

/*
 * Our header in place of qemu-img's (the same spec: the same length):
 * qemu-io unlocks it with our passphrase, and what it writes decrypts
 * with the cipher our create returned.
 */
static void test_qemu_reads_ours(const char *name, const char *opts,
				 const char *alg, const char *mode,
				 const char *ivgen, const char *ivhash,
				 const char *hash)
{
	char img[512];
	struct qcrypto_luks_create_opts o;
	struct qcrypto_cipher *made = NULL;
	uint64_t hoff, hlen, guest = 2 * 65536;
	uint8_t *file = NULL, *area = NULL;
	const char *why = NULL;
	size_t flen, len = 0;
	int fd, ret;

	tl_begin("luks/qemu-reads-ours/%s", name);
	if (!have("qemu-img") || !have("qemu-io")) {
		tl_skip("no qemu-img or qemu-io");
		return;
	}
	tl_path(img, sizeof(img), "ours.qcow2");
	create_opts(&o, alg, mode, ivgen, ivhash, hash);
	if (qemu_create(img, "other", opts)) {
		tl_fail("qemu-img create failed");
		goto out;
	}
	ret = qcrypto_luks_create(&o, pass, strlen(pass),
				  QCRYPTO_BACKEND_OPENSSL, &area, &len, &made);
	if (ret < 0) {
		tl_fail("our create: %s", strerror(-ret));
		goto out;
	}
	file = tl_read_file(img, &flen);
	if (!file || ct_qcow2_fde(file, flen, &hoff, &hlen) < 0 ||
	    hlen != len) {
		tl_fail("qemu-img's header area is not our length %zu", len);
		goto out;
	}
	fd = open(img, O_WRONLY);
	if (fd < 0 || pwrite(fd, area, len, (off_t)hoff) != (ssize_t)len) {
		tl_fail("cannot write our header");
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	free(file);
	file = NULL;
	if (qemu_write(img, pass, guest, 4096, 0x6d))
		why = "qemu-io does not open our header with our passphrase";
	else if (!qemu_write(img, "other", guest, 512, 0x6d))
		why = "qemu-io opened it with qemu-img's old passphrase";
	else if (!(file = tl_read_file(img, &flen)))
		why = "cannot read the image";
	else
		why = check_data(file, flen, made, guest, 4096, 0x6d);
	if (why)
		tl_fail("%s", why);
	else
		tl_pass();
out:
	qcrypto_cipher_free(made);
	free(area);
	free(file);
}

/* ---- damaged headers ---- */

struct damage {
	const char *name;
	unsigned int off;	/* byte offset in the phdr */
	unsigned int size;	/* 4: a be32 value; else bytes of str */
	uint32_t value;
	const char *str;
	size_t len;		/* the area's length; 0: whole */
	int err;
	const char *want;	/* in the error message */
};

#define SLOT(i, f)	(208 + 48 * (i) + (f))

static const struct damage damages[] = {
	{ "magic", 0, 1, 0, "X", 0, -EINVAL, "magic" },
	{ "version-2", 6, 2, 0, "\0\2", 0, -EINVAL, "version" },
	{ "version-0", 6, 2, 0, "\0\0", 0, -EINVAL, "version" },
	{ "cipher_name-foo", 8, 4, 0, "foo\0", 0, -EINVAL, "cipher_name" },
	/* cast5 has 8-byte blocks: no xts */
	{ "cipher_name-cast5-xts", 8, 6, 0, "cast5\0", 0, -EINVAL,
	  "cipher_mode" },
	{ "cipher_name-empty", 8, 1, 0, "\0", 0, -EINVAL, "cipher_name" },
	{ "cipher_name-unterminated", 8, 32, 0,
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, -EINVAL, "cipher_name" },
	{ "cipher_mode-plain65", 40, 12, 0, "xts-plain65\0", 0, -EINVAL,
	  "cipher_mode" },
	{ "cipher_mode-gcm", 40, 12, 0, "gcm-plain64\0", 0, -EINVAL,
	  "cipher_mode" },
	{ "cipher_mode-essiv-nohash", 40, 10, 0, "xts-essiv\0", 0, -EINVAL,
	  "cipher_mode" },
	{ "cipher_mode-essiv-sha257", 40, 17, 0, "xts-essiv:sha257\0", 0,
	  -EINVAL, "cipher_mode" },
	{ "cipher_mode-essiv-sha512", 40, 17, 0, "xts-essiv:sha512\0", 0,
	  -EINVAL, "cipher_mode" },
	{ "cipher_mode-empty", 40, 1, 0, "\0", 0, -EINVAL, "cipher_mode" },
	{ "cipher_mode-unterminated", 40, 32, 0,
	  "xts-plain64xxxxxxxxxxxxxxxxxxxxx", 0, -EINVAL, "cipher_mode" },
	{ "hash_spec-sha2566", 72, 8, 0, "sha2566\0", 0, -EINVAL,
	  "hash_spec" },
	{ "hash_spec-empty", 72, 1, 0, "\0", 0, -EINVAL, "hash_spec" },
	{ "key_bytes-0", 108, 4, 0, NULL, 0, -EINVAL, "key_bytes" },
	{ "key_bytes-33", 108, 4, 33, NULL, 0, -EINVAL, "key_bytes" },
	{ "key_bytes-huge", 108, 4, 0xfffffff0u, NULL, 0, -EINVAL,
	  "key_bytes" },
	{ "mk_digest_iter-0", 164, 4, 0, NULL, 0, -EINVAL,
	  "mk_digest_iter" },
	{ "mk_digest_iter-huge", 164, 4, 0xffffffffu, NULL, 0, -EINVAL,
	  "mk_digest_iter" },
	{ "uuid-unterminated", 168, 40, 0,
	  "0123456789012345678901234567890123456789", 0, -EINVAL, "uuid" },
	{ "payload_offset-2", 104, 4, 2, NULL, 0, -EINVAL,
	  "payload_offset" },
	{ "payload_offset-in-slot7", 104, 4, 100, NULL, 0, -EINVAL,
	  "overlaps the payload offset" },
	{ "slot3-active-1", SLOT(3, 0), 4, 1, NULL, 0, -EINVAL,
	  "key slot 3: active" },
	{ "slot0-active-0", SLOT(0, 0), 4, 0, NULL, 0, -EINVAL,
	  "key slot 0: active" },
	{ "slot0-iterations-0", SLOT(0, 4), 4, 0, NULL, 0, -EINVAL,
	  "key slot 0: iterations" },
	{ "slot0-iterations-huge", SLOT(0, 4), 4, 0x80000000u, NULL, 0,
	  -EINVAL, "key slot 0: iterations" },
	{ "slot5-stripes-3999", SLOT(5, 44), 4, 3999, NULL, 0, -EINVAL,
	  "key slot 5: stripes" },
	{ "slot0-stripes-0", SLOT(0, 44), 4, 0, NULL, 0, -EINVAL,
	  "key slot 0: stripes" },
	{ "slot0-stripes-huge", SLOT(0, 44), 4, 0xffffffffu, NULL, 0,
	  -EINVAL, "key slot 0: stripes" },
	{ "slot0-offset-in-phdr", SLOT(0, 40), 4, 2, NULL, 0, -EINVAL,
	  "key slot 0: key material offset" },
	{ "slot0-offset-0", SLOT(0, 40), 4, 0, NULL, 0, -EINVAL,
	  "key slot 0: key material offset" },
	{ "slot1-offset-on-slot0", SLOT(1, 40), 4, 8, NULL, 0, -EINVAL,
	  "key slot 1: key material offset 8 overlaps key slot 0" },
	{ "slot2-offset-into-slot1", SLOT(2, 40), 4, 600, NULL, 0, -EINVAL,
	  "key slot 2: key material offset 600 overlaps key slot 1" },
	{ "slot7-offset-huge", SLOT(7, 40), 4, 0xffffffffu, NULL, 0, -EINVAL,
	  "key slot 7: key material offset" },
	{ "len-591", 0, 0, 0, NULL, 591, -EINVAL, "header" },
	{ "len-4096", 0, 0, 0, NULL, 4096, -EINVAL,
	  "key slot 0: key material offset 8 ends past" },
	{ "len-slot0-short", 0, 0, 0, NULL, 4096 + 256000 - 512, -EINVAL,
	  "key slot 0: key material offset 8 ends past" },
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void test_damaged(void)
{
	struct qcrypto_luks_create_opts o;
	struct qcrypto_cipher *made = NULL, *c = NULL;
	struct qcrypto_luks *l;
	uint8_t *area = NULL, *copy;
	char err[256];
	size_t len, i;
	int ret;

	create_opts(&o, "", "", "", "", "");
	if (qcrypto_luks_create(&o, pass, strlen(pass),
				QCRYPTO_BACKEND_OPENSSL, &area, &len,
				&made) < 0) {
		tl_begin("luks/bad/create");
		tl_fail("create");
		return;
	}
	qcrypto_cipher_free(made);
	for (i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
		const struct damage *d = &damages[i];
		size_t n = d->len ? d->len : len;

		tl_begin("luks/bad/%s", d->name);
		/* exactly n bytes, so that ASan sees any read past them */
		copy = malloc(n);
		memcpy(copy, area, n);
		if (d->size == 4 && !d->str)
			put_be32(copy + d->off, d->value);
		else if (d->size)
			memcpy(copy + d->off, d->str, d->size);
		memset(err, 'x', sizeof(err));
		l = NULL;
		ret = qcrypto_luks_parse(copy, n, &l, err, sizeof(err));
		if (ret != d->err)
			tl_fail("parse returned %d (%s), not %d: %s", ret,
				strerror(-ret), d->err,
				ret < 0 ? err : "accepted");
		else if (l)
			tl_fail("a header was returned with the error");
		else if (!memchr(err, 0, sizeof(err)) || strchr(err, '\n') ||
			 !strstr(err, d->want))
			tl_fail("error '%.200s' does not name '%s' on one line",
				err, d->want);
		else
			tl_pass();
		qcrypto_luks_free(l);
		free(copy);
	}

	/* damage that parses: the unlock fails with EACCES, nothing worse */
	tl_begin("luks/bad/key-material-flipped");
	copy = malloc(len);
	memcpy(copy, area, len);
	copy[8 * SECT + 1000] ^= 0x10;
	ret = qcrypto_luks_parse(copy, len, &l, err, sizeof(err));
	if (!ret)
		ret = qcrypto_luks_unlock(l, copy, pass, strlen(pass),
					  QCRYPTO_BACKEND_OPENSSL, &c);
	if (ret != -EACCES)
		tl_fail("unlock returned %d, not -EACCES", ret);
	else
		tl_pass();
	qcrypto_cipher_free(c);
	c = NULL;
	qcrypto_luks_free(l);

	tl_begin("luks/bad/mk_digest-flipped");
	memcpy(copy, area, len);
	copy[112] ^= 1;
	ret = qcrypto_luks_parse(copy, len, &l, err, sizeof(err));
	if (!ret)
		ret = qcrypto_luks_unlock(l, copy, pass, strlen(pass),
					  QCRYPTO_BACKEND_OPENSSL, &c);
	if (ret != -EACCES)
		tl_fail("unlock returned %d, not -EACCES", ret);
	else
		tl_pass();
	qcrypto_cipher_free(c);
	qcrypto_luks_free(l);
	free(copy);
	free(area);
}

/*
 * 3000 headers with 1 to 4 random bytes of the phdr changed (some also
 * cut short): parse returns 0, -EINVAL or -ENOTSUP, an error with a
 * one-line reason; the first 30 that parse unlock to 0 or -EACCES.
 */
static void test_mutations(void)
{
	struct qcrypto_luks_create_opts o;
	struct qcrypto_cipher *made = NULL, *c;
	struct qcrypto_luks *l;
	uint64_t seed = 20261206;
	uint8_t *area = NULL, *copy;
	unsigned int i, j, parsed = 0, unlocked = 0;
	const char *why = NULL;
	char err[256];
	size_t len, n;
	int ret;

	tl_begin("luks/bad/mutations");
	create_opts(&o, "aes-128", "cbc", "essiv", "sha256", "sha1");
	if (qcrypto_luks_create(&o, pass, strlen(pass),
				QCRYPTO_BACKEND_OPENSSL, &area, &len,
				&made) < 0) {
		tl_fail("create");
		return;
	}
	qcrypto_cipher_free(made);
	for (i = 0; i < 3000 && !why; i++) {
		n = tl_rnd(&seed) % 8 ? len : tl_rnd(&seed) % len;
		copy = malloc(n ? n : 1);
		memcpy(copy, area, n);
		for (j = tl_rnd(&seed) % 4 + 1; j-- > 0 && n;) {
			size_t at = tl_rnd(&seed) % (n < 592 ? n : 592);

			copy[at] = (uint8_t)tl_rnd(&seed);
		}
		err[0] = 0;
		l = NULL;
		ret = qcrypto_luks_parse(copy, n, &l, err, sizeof(err));
		if (ret && ret != -EINVAL && ret != -ENOTSUP)
			why = "parse returned neither 0, EINVAL nor ENOTSUP";
		else if (ret && (!err[0] || strchr(err, '\n')))
			why = "an error without a one-line reason";
		else if (!ret && parsed++ < 30) {
			c = NULL;
			ret = qcrypto_luks_unlock(l, copy, pass, strlen(pass),
						  QCRYPTO_BACKEND_OPENSSL, &c);
			if (ret && ret != -EACCES)
				why = "unlock returned neither 0 nor EACCES";
			unlocked += !ret;
			qcrypto_cipher_free(c);
		}
		qcrypto_luks_free(l);
		free(copy);
	}
	if (why)
		tl_fail("case %u: %s (%d: %s)", i - 1, why, ret, err);
	else {
		printf("NOTE: %u of 3000 parsed, %u of the first 30 of "
		       "those unlocked\n", parsed, unlocked);
		tl_pass();
	}
	free(area);
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	test_roundtrip("", "", "", "", "", 64);
	test_roundtrip("aes-128", "cbc", "essiv", "sha256", "sha1", 16);
	test_roundtrip("aes-192", "cbc", "plain", "", "sha512", 24);
	test_roundtrip("aes-256", "ctr", "plain64", "", "ripemd160", 32);
	test_roundtrip("aes-128", "xts", "essiv", "sha256", "sha224", 32);
	test_cryptsetup("aes-xts-plain64", 512, "sha256", "aes-256", "xts",
			"plain64", "");
	test_cryptsetup("aes-cbc-essiv:sha256", 128, "sha1", "aes-128", "cbc",
			"essiv", "sha256");
	test_cryptsetup("aes-cbc-plain", 192, "sha512", "aes-192", "cbc",
			"plain", "");
	test_cryptsetup_reads_ours("aes-256", "xts", "plain64", "");
	test_cryptsetup_reads_ours("aes-128", "cbc", "essiv", "sha256");
	test_qemu_image("default", "");
	test_qemu_image("aes-128-cbc-essiv-sha1",
			",encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,"
			"encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,"
			"encrypt.hash-alg=sha1");
	test_qemu_reads_ours("default", "", "", "", "", "", "");
	test_qemu_reads_ours("aes-128-cbc-essiv-sha1",
			     ",encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,"
			     "encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,"
			     "encrypt.hash-alg=sha1",
			     "aes-128", "cbc", "essiv", "sha256", "sha1");
	test_damaged();
	test_mutations();
	return tl_finish();
}
