/*
 * dotenv: one variable of a dotenv file, as neuView reads its token from
 * ./.env (python-dotenv's load_dotenv, which never overrides a variable the
 * environment already has). Lines "NAME=VALUE" or "export NAME=VALUE";
 * the value unquoted (up to a " #" comment, blanks trimmed), or in single
 * quotes (as written), or in double quotes (\\ \" \n and \t undone); "#"
 * lines and anything else are skipped. No expansion of ${...}.
 */
#ifndef QP_DOTENV_H
#define QP_DOTENV_H

/*
 * NAME's value in FILE, malloc'd (the caller wipes and frees it: it may
 * be a token), or NULL when FILE cannot be read or has no such line. The
 * last line naming NAME wins, as python-dotenv's does.
 */
char	*dotenv_get(const char *file, const char *name);

#endif
