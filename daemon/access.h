/*
 * access: now admit.h. Only daemon/server.c still includes this name; it
 * goes when that include becomes "admit.h" (at the merge of the server
 * split, which owns server.c).
 */
#ifndef QP_ACCESS_H
#define QP_ACCESS_H

#include "admit.h"

#endif
