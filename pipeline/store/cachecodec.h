/*
 * cachecodec: a cache entry's bytes (docs/cache.md, "stems.data"): the
 * accumulators (struct ts_acc) of one page stem, as varints (zigzag for
 * signed values) and length-prefixed strings after a magic byte. Pure
 * functions of their arguments: safe on any thread. The checksum stored
 * beside an entry is cache.c's.
 */
#ifndef QP_CACHECODEC_H
#define QP_CACHECODEC_H

#include <stddef.h>

#include "base/buf.h"
#include "index/typeset.h"

/*
 * An entry: the N accumulators, as a compact byte string appended to B.
 * Its checksum is stored beside it by cache_store.
 */
void	 cache_encode(struct buf *b, struct ts_acc *const *accs, size_t n);
/*
 * Decode an entry into *ACCS (N of them, each as ts_acc_init makes it for
 * NPRIMARY primary ROIs; free each with ts_acc_free, then the array).
 * Needs no roi_meta, so a worker can decode while the job goes on.
 * -EBADMSG when the bytes are not a well-formed entry of that width.
 */
int	 cache_decode(const void *data, size_t len, size_t nprimary,
	    struct ts_acc ***accs, size_t *n);

#endif
