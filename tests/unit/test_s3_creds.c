/*
 * test_s3_creds.c - credentials: INI parsing with profiles, the
 * environment-over-file order, and the error messages (which must name
 * files and profiles, never secrets).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/s3/creds.h"

static const char *ini = "# comment\n"
                         "[default]\n"
                         "aws_access_key_id = AKDEFAULT\n"
                         "aws_secret_access_key=secret/default+1\n"
                         "\n"
                         "; another comment\n"
                         "[ profile  other ]\n"
                         "  AWS_ACCESS_KEY_ID=AKOTHER  \r\n"
                         "aws_secret_access_key =  s3cr3t  \r\n"
                         "aws_session_token = tok=en==\n"
                         "region = eu-west-1\n"
                         "[half]\n"
                         "aws_access_key_id = AKHALF\n"
                         "[empty-token]\n"
                         "aws_access_key_id = A\n"
                         "aws_secret_access_key = B\n"
                         "aws_session_token =\n";

static void test_parse_profiles(void **state)
{
    struct mpfs_s3_creds c = {0};
    assert_int_equal(mpfs_s3_creds_parse(ini, "default", &c), 0);
    assert_string_equal(c.access_key, "AKDEFAULT");
    assert_string_equal(c.secret_key, "secret/default+1");
    assert_null(c.session_token);

    assert_int_equal(mpfs_s3_creds_parse(ini, "other", &c), 0);
    assert_string_equal(c.access_key, "AKOTHER");
    assert_string_equal(c.secret_key, "s3cr3t");
    assert_string_equal(c.session_token, "tok=en==");

    assert_int_equal(mpfs_s3_creds_parse(ini, "half", &c), -EINVAL);
    assert_null(c.access_key);
    assert_int_equal(mpfs_s3_creds_parse(ini, "nope", &c), -ENOENT);
    assert_int_equal(mpfs_s3_creds_parse(ini, "empty-token", &c), 0);
    assert_null(c.session_token);
    assert_int_equal(mpfs_s3_creds_parse("", "default", &c), -ENOENT);
    assert_int_equal(mpfs_s3_creds_parse("[default]", "default", &c), -EINVAL);
    /* no trailing newline */
    assert_int_equal(
        mpfs_s3_creds_parse("[p]\naws_access_key_id=a\naws_secret_access_key=b", "p", &c), 0);
    assert_string_equal(c.secret_key, "b");
    mpfs_s3_creds_clear(&c);
    mpfs_s3_creds_clear(&c); /* twice is fine */
}

static char path[64];

static int setup(void **state)
{
    strcpy(path, "/tmp/mpfs-creds-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
    close(fd);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    return 0;
}

static void test_load_order(void **state)
{
    struct mpfs_s3_creds c;
    char err[512];

    /* the environment first */
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    assert_int_equal(mpfs_s3_creds_load(NULL, NULL, &c, err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKENV");
    assert_string_equal(c.session_token, "envtoken");
    assert_string_equal(c.source, "environment");
    mpfs_s3_creds_clear(&c);

    /* an explicit profile beats the environment keys */
    assert_int_equal(mpfs_s3_creds_load("other", NULL, &c, err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKOTHER");
    assert_non_null(strstr(c.source, "[other]"));
    mpfs_s3_creds_clear(&c);

    /* half an environment is an error that says which half */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(mpfs_s3_creds_load(NULL, NULL, &c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "AWS_SECRET_ACCESS_KEY"));
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SESSION_TOKEN");

    /* the file, profile from AWS_PROFILE */
    setenv("AWS_PROFILE", "other", 1);
    assert_int_equal(mpfs_s3_creds_load(NULL, NULL, &c, err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKOTHER");
    mpfs_s3_creds_clear(&c);
    unsetenv("AWS_PROFILE");
    assert_int_equal(mpfs_s3_creds_load(NULL, NULL, &c, err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKDEFAULT");
    mpfs_s3_creds_clear(&c);

    /* errors name the profile and file, never a secret */
    assert_int_equal(mpfs_s3_creds_load("missing", NULL, &c, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "'missing'"));
    assert_non_null(strstr(err, path));
    assert_int_equal(mpfs_s3_creds_load("half", NULL, &c, err, sizeof(err)), -EINVAL);
    assert_null(strstr(err, "AKHALF"));
    assert_int_equal(mpfs_s3_creds_load(NULL, "/nonexistent/creds", &c, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/creds"));

    /* nothing configured anywhere: anonymous */
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", "/nonexistent-home", 1);
    assert_int_equal(mpfs_s3_creds_load(NULL, NULL, &c, err, sizeof(err)), 0);
    assert_null(c.access_key);
    assert_string_equal(c.source, "anonymous");
    if (home) {
        setenv("HOME", home, 1);
        free(home);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_profiles),
        cmocka_unit_test_setup_teardown(test_load_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
