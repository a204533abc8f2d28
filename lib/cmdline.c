/*
 * lib/cmdline.c - the kernel command-line registry. Options are
 * cmdline_option records that CMDLINE_INT/BOOL/STRING place in the linker
 * section "cmdline_opts"; this file walks that array, it never keeps a list.
 *
 * Parsing rules:
 *   - tokens are separated by spaces (tabs and newlines count as spaces);
 *     an empty or all-space line is valid and sets nothing;
 *   - every token is key=value with a non-empty key and value;
 *   - a first token without '=' that starts with '/' is the kernel path some
 *     boot loaders prepend, and is skipped;
 *   - a key given twice: the last value wins, as each token is applied in
 *     order;
 *   - every bad token is reported, not just the first, and valid tokens are
 *     applied even when others fail: the caller is expected to stop on
 *     false, and one run then shows all the mistakes;
 *   - integers: optional '-', decimal or 0x hex digits, then an optional
 *     k/K, m/M or g/G suffix multiplying by 2^10, 2^20 or 2^30 ("mem=512m");
 *     leading zeros are decimal, not octal; values beyond int64_t are
 *     rejected, never wrapped;
 *   - booleans: 1/0, on/off, true/false, yes/no;
 *   - strings point into the parsed line, which must therefore outlive them.
 *
 * help=1 (cmdline_print_help) lists every option with its current value,
 * the values it accepts and its default: the value its variable had before
 * the first line was parsed, recorded then. Keys starting with
 * CMDLINE_TEST_PREFIX belong to the parser's own tests and are not listed.
 */
#include "lib/lib.h"

/* Longest command line cmdline_parse() accepts, including the NUL. */
#define CMDLINE_MAX 4096
/* Room for an error message that quotes a token. */
#define CMDLINE_ERR_MAX 256
/* Room for the reason a value was rejected. */
#define CMDLINE_REASON_MAX 96
/* Options whose defaults are recorded; more is a build mistake (panic). */
#define CMDLINE_MAX_OPTIONS 128
/* Keys of the parser's own test options, left out of the help. */
#define CMDLINE_TEST_PREFIX "test."

extern const cmdline_option __start_cmdline_opts[], __stop_cmdline_opts[];

/* The boot command line; string options point into it. */
static char cmdline_copy[CMDLINE_MAX];

typedef enum cmdline_status {
	CMDLINE_OK,
	CMDLINE_MALFORMED, /* not key=value */
	CMDLINE_UNKNOWN,   /* no option has that key */
	CMDLINE_BAD_VALUE, /* the option's parser rejected the value */
} cmdline_status;

/* The option named by the first keylen bytes of key, or NULL. */
static const cmdline_option *cmdline_find(const char *key, size_t keylen)
{
	for (const cmdline_option *opt = __start_cmdline_opts;
	     opt < __stop_cmdline_opts; opt++) {
		if (strncmp(opt->key, key, keylen) == 0 &&
		    opt->key[keylen] == '\0')
			return opt;
	}
	return NULL;
}

/* Each option's value before the first parse, by registry index. */
typedef union cmdline_value {
	int64_t i;
	bool b;
	const char *s;
} cmdline_value;
static cmdline_value cmdline_defaults[CMDLINE_MAX_OPTIONS];
static bool cmdline_defaults_recorded;

static bool cmdline_is_int(const cmdline_option *opt)
{
	/* A custom parser over an integer declares a range. */
	return opt->parse == cmdline_parse_int ||
	       (opt->parse != cmdline_parse_bool && opt->parse != cmdline_parse_string &&
		opt->min < opt->max);
}

static cmdline_value cmdline_read(const cmdline_option *opt)
{
	cmdline_value v = { 0 };
	if (opt->parse == cmdline_parse_bool)
		v.b = *(const bool *)opt->target;
	else if (opt->parse == cmdline_parse_string)
		v.s = *(const char *const *)opt->target;
	else if (cmdline_is_int(opt))
		v.i = *(const int64_t *)opt->target;
	return v;
}

static void cmdline_record_defaults(void)
{
	size_t n = (size_t)(__stop_cmdline_opts - __start_cmdline_opts);
	if (cmdline_defaults_recorded)
		return;
	if (n > CMDLINE_MAX_OPTIONS)
		panic("cmdline: %zu options registered, CMDLINE_MAX_OPTIONS is %d", n,
		      CMDLINE_MAX_OPTIONS);
	for (size_t i = 0; i < n; i++)
		cmdline_defaults[i] = cmdline_read(&__start_cmdline_opts[i]);
	cmdline_defaults_recorded = true;
}

/*
 * Two registrations of one key would make one of them unreachable without
 * any message; that is a build mistake, so it panics.
 */
static void cmdline_check_registry(void)
{
	cmdline_record_defaults();
	for (const cmdline_option *a = __start_cmdline_opts;
	     a < __stop_cmdline_opts; a++) {
		for (const cmdline_option *b = a + 1; b < __stop_cmdline_opts; b++) {
			if (strcmp(a->key, b->key) == 0)
				panic("cmdline: option '%s' is registered twice",
				      a->key);
		}
	}
}

static int cmdline_digit(char c, unsigned base)
{
	int value;

	if (c >= '0' && c <= '9')
		value = c - '0';
	else if (c >= 'a' && c <= 'f')
		value = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		value = c - 'A' + 10;
	else
		return -1;
	return value < (int)base ? value : -1;
}

/* Parses an integer per the rules at the top; NULL, or why it failed. */
static const char *cmdline_parse_number(const char *s, int64_t *out)
{
	bool negative = false;
	unsigned base = 10;

	if (*s == '-') {
		negative = true;
		s++;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}

	const char *digits = s;
	uint64_t mag = 0;
	for (int d; (d = cmdline_digit(*s, base)) >= 0; s++) {
		if (mag > (UINT64_MAX - (uint64_t)d) / base)
			return "number too large";
		mag = mag * base + (uint64_t)d;
	}
	if (s == digits)
		return "not a number";

	unsigned shift = 0;
	switch (*s) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	}
	if (shift != 0)
		s++;
	if (*s != '\0')
		return "not a number";
	if (mag > (UINT64_MAX >> shift))
		return "number too large";
	mag <<= shift;

	/* |INT64_MIN| is one more than INT64_MAX. */
	uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (mag > limit)
		return "number too large";
	*out = negative ? (int64_t)(0 - mag) : (int64_t)mag;
	return NULL;
}

bool cmdline_parse_int(const cmdline_option *opt, const char *value, char *err,
		       size_t errlen)
{
	int64_t v;
	const char *why = cmdline_parse_number(value, &v);

	if (why) {
		ksnprintf(err, errlen, "%s", why);
		return false;
	}
	if (v < opt->min || v > opt->max) {
		ksnprintf(err, errlen, "out of range [%lld, %lld]",
			  (long long)opt->min, (long long)opt->max);
		return false;
	}
	*(int64_t *)opt->target = v;
	return true;
}

bool cmdline_parse_bool(const cmdline_option *opt, const char *value,
			char *err, size_t errlen)
{
	static const struct {
		const char *word;
		bool value;
	} words[] = {
		{ "1", true },     { "0", false },   { "on", true },
		{ "off", false },  { "true", true }, { "false", false },
		{ "yes", true },   { "no", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		if (strcmp(value, words[i].word) == 0) {
			*(bool *)opt->target = words[i].value;
			return true;
		}
	}
	ksnprintf(err, errlen, "not a boolean (use 1/0, on/off, true/false, yes/no)");
	return false;
}

bool cmdline_parse_string(const cmdline_option *opt, const char *value,
			  char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*(const char **)opt->target = value;
	return true;
}

static cmdline_status cmdline_apply(const char *token, char *err,
				    size_t errlen)
{
	const char *eq = strchr(token, '=');

	if (!eq || eq == token || eq[1] == '\0') {
		ksnprintf(err, errlen, "malformed option '%s' (expected key=value)",
			  token);
		return CMDLINE_MALFORMED;
	}
	const cmdline_option *opt = cmdline_find(token, (size_t)(eq - token));
	if (!opt) {
		ksnprintf(err, errlen, "unknown option '%s'", token);
		return CMDLINE_UNKNOWN;
	}
	char reason[CMDLINE_REASON_MAX];
	if (!opt->parse(opt, eq + 1, reason, sizeof reason)) {
		ksnprintf(err, errlen, "bad value in '%s': %s", token, reason);
		return CMDLINE_BAD_VALUE;
	}
	return CMDLINE_OK;
}

bool cmdline_parse_token(const char *token, char *err, size_t errlen)
{
	return cmdline_apply(token, err, errlen) == CMDLINE_OK;
}

static bool cmdline_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool cmdline_parse_in_place(char *line)
{
	bool ok = true, unknown_seen = false, first = true;
	char *p = line;

	cmdline_check_registry();
	for (;;) {
		while (cmdline_is_space(*p))
			p++;
		if (*p == '\0')
			break;
		char *token = p;
		while (*p != '\0' && !cmdline_is_space(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';

		bool skip = first && token[0] == '/' && !strchr(token, '=');
		first = false;
		if (skip)
			continue;

		char err[CMDLINE_ERR_MAX];
		cmdline_status status = cmdline_apply(token, err, sizeof err);
		if (status != CMDLINE_OK) {
			kprintf("cmdline: %s\n", err);
			ok = false;
		}
		if (status == CMDLINE_UNKNOWN)
			unknown_seen = true;
	}
	/* Once, after all errors, so a line of typos lists the keys once. */
	if (unknown_seen)
		cmdline_print_help();
	return ok;
}

bool cmdline_parse(const char *cmdline)
{
	if (!cmdline)
		cmdline = "";

	size_t len = strlen(cmdline);
	if (len >= sizeof cmdline_copy) {
		kprintf("cmdline: command line too long (%zu bytes, the limit is %zu)\n",
			len, sizeof cmdline_copy - 1);
		return false;
	}
	memcpy(cmdline_copy, cmdline, len + 1);
	return cmdline_parse_in_place(cmdline_copy);
}

static void cmdline_format_value(const cmdline_option *opt, cmdline_value v, char *buf,
				 size_t n)
{
	if (opt->parse == cmdline_parse_bool)
		ksnprintf(buf, n, "%s", v.b ? "on" : "off");
	else if (opt->parse == cmdline_parse_string)
		ksnprintf(buf, n, "%s", v.s ? v.s : "(unset)");
	else if (cmdline_is_int(opt))
		ksnprintf(buf, n, "%lld", (long long)v.i);
	else
		ksnprintf(buf, n, "?"); /* a custom parser of unknown type */
}

/* An integer bound as the parser would accept it: with a k/m/g suffix
 * when it is a whole multiple. */
static void cmdline_format_bound(int64_t v, char *buf, size_t n)
{
	static const char suffix[] = "gmk";
	for (int k = 0; k < 3; k++) {
		int shift = 30 - 10 * k;
		int64_t unit = (int64_t)1 << shift;
		if (v != 0 && v % unit == 0 && (v >= unit || v <= -unit)) {
			ksnprintf(buf, n, "%lld%c", (long long)(v / unit), suffix[k]);
			return;
		}
	}
	ksnprintf(buf, n, "%lld", (long long)v);
}

/* What the option accepts: "on/off", "text", "10..10000", "0 or more". */
static void cmdline_format_accepted(const cmdline_option *opt, char *buf, size_t n)
{
	if (opt->parse == cmdline_parse_bool) {
		ksnprintf(buf, n, "on/off");
	} else if (opt->parse == cmdline_parse_string) {
		ksnprintf(buf, n, "text");
	} else if (cmdline_is_int(opt)) {
		char lo[24], hi[24];
		cmdline_format_bound(opt->min, lo, sizeof lo);
		cmdline_format_bound(opt->max, hi, sizeof hi);
		/* A custom parser may take words besides (gogc=off). */
		const char *more = opt->parse == cmdline_parse_int ? "" : ", or see the text";
		if (opt->max == INT64_MAX)
			ksnprintf(buf, n, "%s or more%s", lo, more);
		else
			ksnprintf(buf, n, "%s..%s%s", lo, hi, more);
	} else {
		ksnprintf(buf, n, "see the text");
	}
}

void cmdline_print_help(void)
{
	cmdline_record_defaults();
	kprintf("valid options (key=current value, what it does [accepted values; default]):\n");
	/*
	 * Sorted by key so the list reads the same whatever the link order;
	 * selection sort on the fly, as the registry is small and read-only.
	 */
	const cmdline_option *prev = NULL;
	for (;;) {
		const cmdline_option *next = NULL;
		for (const cmdline_option *opt = __start_cmdline_opts;
		     opt < __stop_cmdline_opts; opt++) {
			if (prev && strcmp(opt->key, prev->key) <= 0)
				continue;
			if (!next || strcmp(opt->key, next->key) < 0)
				next = opt;
		}
		if (!next)
			break;
		prev = next;
		if (strncmp(next->key, CMDLINE_TEST_PREFIX, strlen(CMDLINE_TEST_PREFIX)) == 0)
			continue;

		char value[64], setting[96], accepted[64], def[64];
		cmdline_format_value(next, cmdline_read(next), value, sizeof value);
		cmdline_format_value(next, cmdline_defaults[next - __start_cmdline_opts], def,
				     sizeof def);
		cmdline_format_accepted(next, accepted, sizeof accepted);
		ksnprintf(setting, sizeof setting, "%s=%s", next->key, value);
		kprintf("  %-28s %s [%s; default %s]\n", setting, next->help, accepted, def);
	}
	kprintf("integers: decimal or 0x hex, with k/m/g (x1024) suffixes; booleans also "
		"1/0, true/false, yes/no\n");
}
