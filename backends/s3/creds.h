/*
 * creds.h - where the S3 backend finds its credentials.
 *
 * Order, as the AWS CLI and SDKs do it: AWS_ACCESS_KEY_ID +
 * AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) from the environment, else
 * the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
 * ~/.aws/credentials), profile from the config, AWS_PROFILE or "default".
 * No instance metadata / STS: static keys only.
 *
 * Secrets never reach a log line: errors name the file and profile, never
 * values.  mpfs_s3_creds_clear() wipes them before freeing.
 */
#ifndef MPFS_BACKENDS_S3_CREDS_H
#define MPFS_BACKENDS_S3_CREDS_H

#include <stddef.h>

struct mpfs_s3_creds {
    char *access_key; /* NULL: anonymous (unsigned requests) */
    char *secret_key;
    char *session_token; /* NULL if none */
    char source[4400];   /* "environment" or "/root/.aws/credentials [default]" */
};

/* Parse INI text of a credentials (or config) file for profile.  Sections
 * "[name]" and "[profile name]" both match.  Keys: aws_access_key_id,
 * aws_secret_access_key, aws_session_token (aws_security_token accepted).
 * Returns 0, -ENOENT if the profile is absent, -EINVAL if it lacks a key
 * or secret. */
int mpfs_s3_creds_parse(const char *text, const char *profile, struct mpfs_s3_creds *out);

/* Resolve credentials as described above.  profile/file may be NULL.
 * Returns 0 (maybe anonymous when nothing is configured at all) or -errno
 * with a one-line message in err: a named but missing profile, a half
 * set environment, an unreadable file. */
int mpfs_s3_creds_load(const char *profile, const char *file, struct mpfs_s3_creds *out, char *err,
                       size_t errlen);

/* Wipe and free; safe on a zeroed or already-cleared struct. */
void mpfs_s3_creds_clear(struct mpfs_s3_creds *c);

#endif
