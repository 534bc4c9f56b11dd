/*
 * libFuzzer harness: page-name scanning. The input is a directory listing
 * (file names separated by '/', which no file name holds; a first byte
 * with bit 0 set reads it as neuView's types/, where every page counts),
 * given to scan_names, what scan_dir runs on the names it reads. Every
 * stem is then spelled out (scan_candidates) and resolved back, as fetch
 * and the ROI stage do.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/scan.h"
#include "base/xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file rule's promises for one stem. */
static void
check_stem(const struct scan_stem *s)
{
	char **v, *back;
	size_t n, i;

	if (scan_candidates(s->stem, 5, &v, &n) < 0)
		return;		/* too many underscores: the type list decides */
	if (n == 0 || strcmp(v[0], s->stem) != 0 ||
	    scan_resolve(s->stem, (const char *const *)v, n) != v[0])
		abort();	/* the stem itself comes first and wins */
	/* A stem the rule made (no '/' or ' ' left) is every candidate's. */
	for (i = 0; i < n && strpbrk(s->stem, " /") == NULL; i++) {
		back = scan_stem_of(v[i]);
		if (strcmp(back, s->stem) != 0)
			abort();
		free(back);
	}
	scan_strv_free(v, n);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_result res;
	char *text, *p, **names = NULL;
	size_t n = 0, i, k, files = 0;
	int all, side;

	if (size < 1)
		return 0;
	all = data[0] & 1;
	text = xstrndup((const char *)data + 1, size - 1);
	for (p = text; p != NULL; ) {
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = p;
		if ((p = strchr(p, '/')) != NULL)
			*p++ = '\0';
	}
	/* A directory lists each name once. */
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0, k = 0; i < n; i++)
		if (k == 0 || strcmp(names[k - 1], names[i]) != 0)
			names[k++] = names[i];
	scan_names((const char *const *)names, k, all, &res);
	for (i = 0; i < res.nstems; i++) {
		/* scan.h: sorted by stem in byte order, each stem once */
		if (i > 0 && strcmp(res.stems[i - 1].stem, res.stems[i].stem) >= 0)
			abort();
		for (side = 0; side < SIDE_COUNT; side++)
			files += res.stems[i].file[side] != NULL;
		check_stem(&res.stems[i]);
	}
	if (files != res.nfiles)
		abort();
	scan_free(&res);
	free(names);
	free(text);
	return 0;
}
