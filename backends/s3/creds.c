/*
 * creds.c - see creds.h.
 */
#include "backends/s3/creds.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/util.h"

static void wipe_free(char **p)
{
    if (*p) {
        memset(*p, 0, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

void mpfs_s3_creds_clear(struct mpfs_s3_creds *c)
{
    wipe_free(&c->access_key);
    wipe_free(&c->secret_key);
    wipe_free(&c->session_token);
    c->source[0] = '\0';
}

/* [s, e) trimmed of ASCII space. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s)) {
        (*s)++;
    }
    while (*e > *s && isspace((unsigned char)(*e)[-1])) {
        (*e)--;
    }
}

static int section_matches(const char *s, const char *e, const char *profile)
{
    size_t pl = strlen(profile);
    trim(&s, &e);
    if ((size_t)(e - s) > 8 && strncmp(s, "profile", 7) == 0 && isspace((unsigned char)s[7])) {
        s += 8;
        trim(&s, &e);
    }
    return (size_t)(e - s) == pl && memcmp(s, profile, pl) == 0;
}

static void set_dup(char **dst, const char *s, const char *e)
{
    wipe_free(dst);
    *dst = mpfs_xmalloc((size_t)(e - s) + 1);
    memcpy(*dst, s, (size_t)(e - s));
    (*dst)[e - s] = '\0';
}

int mpfs_s3_creds_parse(const char *text, const char *profile, struct mpfs_s3_creds *out)
{
    int in_profile = 0, found = 0;
    const char *line = text;

    mpfs_s3_creds_clear(out);
    while (*line) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        const char *s = line, *e = end;
        trim(&s, &e);
        line = eol ? eol + 1 : end;
        if (s == e || *s == '#' || *s == ';') {
            continue;
        }
        if (*s == '[') {
            const char *close = memchr(s, ']', (size_t)(e - s));
            in_profile = close && section_matches(s + 1, close, profile);
            found |= in_profile;
            continue;
        }
        if (!in_profile) {
            continue;
        }
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq) {
            continue;
        }
        const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
        trim(&ks, &ke);
        trim(&vs, &ve);
        size_t kl = (size_t)(ke - ks);
#define KEY_IS(lit) (kl == sizeof(lit) - 1 && strncasecmp(ks, lit, kl) == 0)
        if (KEY_IS("aws_access_key_id")) {
            set_dup(&out->access_key, vs, ve);
        } else if (KEY_IS("aws_secret_access_key")) {
            set_dup(&out->secret_key, vs, ve);
        } else if (KEY_IS("aws_session_token") || KEY_IS("aws_security_token")) {
            set_dup(&out->session_token, vs, ve);
        }
#undef KEY_IS
    }
    if (!found) {
        mpfs_s3_creds_clear(out);
        return -ENOENT;
    }
    if (!out->access_key || !out->secret_key || !out->access_key[0] || !out->secret_key[0]) {
        mpfs_s3_creds_clear(out);
        return -EINVAL;
    }
    if (out->session_token && !out->session_token[0]) {
        wipe_free(&out->session_token);
    }
    return 0;
}

static char *read_small_file(const char *path, int *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        *err = -errno;
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
        mpfs_warn("s3: credentials file %s is readable by group/others (mode %03o); "
                  "chmod 600 it",
                  path, (unsigned)(st.st_mode & 0777));
    }
    size_t cap = 4096, len = 0;
    char *buf = mpfs_xmalloc(cap);
    for (;;) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            break;
        }
        if (len + 1 == cap) {
            if (cap >= (1u << 20)) {
                break; /* a credentials file is never this big */
            }
            cap *= 2;
            buf = mpfs_xrealloc(buf, cap);
        }
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

int mpfs_s3_creds_load(const char *profile, const char *file, struct mpfs_s3_creds *out, char *err,
                       size_t errlen)
{
    const char *ak = getenv("AWS_ACCESS_KEY_ID");
    const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char *tok = getenv("AWS_SESSION_TOKEN");

    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    /* An explicit profile wins over the environment keys, as in the CLI's
     * --profile. */
    if (!profile && ak && *ak && sk && *sk) {
        out->access_key = mpfs_xstrdup(ak);
        out->secret_key = mpfs_xstrdup(sk);
        out->session_token = tok && *tok ? mpfs_xstrdup(tok) : NULL;
        snprintf(out->source, sizeof(out->source), "environment");
        return 0;
    }
    if (!profile && ((ak && *ak) != (sk && *sk))) {
        snprintf(err, errlen, "S3 credentials: %s is set but %s is not",
                 (ak && *ak) ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                 (ak && *ak) ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -EINVAL;
    }

    int explicit_profile = profile != NULL || getenv("AWS_PROFILE") != NULL;
    if (!profile) {
        profile = getenv("AWS_PROFILE");
    }
    if (!profile || !*profile) {
        profile = "default";
    }
    int explicit_file = file != NULL || getenv("AWS_SHARED_CREDENTIALS_FILE") != NULL;
    char path[4096];
    if (!file) {
        file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    }
    if (file) {
        snprintf(path, sizeof(path), "%s", file);
    } else {
        const char *home = getenv("HOME");
        snprintf(path, sizeof(path), "%s/.aws/credentials", home ? home : "");
    }

    int rc = 0;
    char *text = read_small_file(path, &rc);
    if (!text) {
        if (!explicit_file && !explicit_profile && rc == -ENOENT) {
            /* Nothing configured anywhere: unsigned requests, which is
             * what public buckets need. */
            snprintf(out->source, sizeof(out->source), "anonymous");
            return 0;
        }
        snprintf(err, errlen, "S3 credentials file %s: %s", path, strerror(-rc));
        return rc;
    }
    rc = mpfs_s3_creds_parse(text, profile, out);
    memset(text, 0, strlen(text));
    free(text);
    if (rc == -ENOENT) {
        snprintf(err, errlen, "S3 credentials: profile '%s' not found in %s", profile, path);
        return rc;
    }
    if (rc < 0) {
        snprintf(err, errlen,
                 "S3 credentials: profile '%s' in %s lacks aws_access_key_id or "
                 "aws_secret_access_key",
                 profile, path);
        return rc;
    }
    snprintf(out->source, sizeof(out->source), "%s [%s]", path, profile);
    return 0;
}
