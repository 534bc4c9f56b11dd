/*
 * yamlfile: what the two readers of YAML from outside share (the site
 * configs of pipeline/config, the daemon's settings of daemon/settings):
 * reading the file, the limits every document keeps before a loader sees
 * it, the libcyaml glue (allocation by xmalloc, its log into a message)
 * and libyaml's event helpers. What a document means stays with its
 * reader; every message here names the file as the reader gave it.
 */
#ifndef QP_YAMLFILE_H
#define QP_YAMLFILE_H

#include <stddef.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

/*
 * Read a YAML file whole, refusing one past 16 MiB, the size no config of
 * ours comes near: 0 with *TEXT (NUL-terminated, free it with
 * yf_free_text) and *LEN, or a negative errno with "FILE: what" in err
 * (WHAT names the kind in the size refusal: "a config").
 */
#define YF_MAX_FILE_BYTES	(1u << 24)
int	 yf_read_file(const char *file, const char *what, char **text,
	    size_t *len, char *err, size_t errlen);
/* Wipe and free a text yf_read_file gave: it may hold a token. */
void	 yf_free_text(char *text, size_t len);

/*
 * The limits any YAML document we read keeps: flow nesting at most 64
 * deep, at most 100,000 values with every alias expanded. 0, or -EINVAL
 * with "NAME:LINE: the document is ..." in err. Syntax errors pass: the
 * loader reports them.
 */
#define YF_MAX_DEPTH	64
#define YF_MAX_NODES	100000
int	 yf_check(const char *name, const char *text, size_t len, char *err,
	    size_t errlen);

/*
 * How libcyaml's error lines become the message: FIRST keeps the first
 * line as libcyaml words it (the site config's); ALL joins them, its
 * "Load: " prefixes and "Backtrace:" header dropped (the settings').
 */
enum yf_log { YF_LOG_FIRST, YF_LOG_ALL };

/*
 * cyaml_load_data on TEXT by SCHEMA with FLAGS, allocating by xmalloc:
 * 0 with *OUT (NULL for an empty document; free it with yf_cyaml_free),
 * or -EINVAL with "NAME: what libcyaml says" in err.
 */
int	 yf_cyaml_load(const char *name, const char *text, size_t len,
	    const cyaml_schema_value_t *schema, cyaml_cfg_flags_t flags,
	    enum yf_log log, cyaml_data_t **out, char *err, size_t errlen);
void	 yf_cyaml_free(const cyaml_schema_value_t *schema, cyaml_data_t *data);

/* A libyaml parser P on TEXT (yaml_parser_delete it). */
void	 yf_parser_open(yaml_parser_t *p, const char *text, size_t len);
/* The next event into EV: 0, or -EINVAL with the error in P. */
int	 yf_next(yaml_parser_t *p, yaml_event_t *ev);
/*
 * Skip one value whose first event EV was read: a scalar or alias is
 * whole already, a mapping or sequence is read to its end. 0 or -EINVAL.
 */
int	 yf_skip_value(yaml_parser_t *p, const yaml_event_t *ev);

#endif
