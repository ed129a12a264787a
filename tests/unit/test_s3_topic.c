/*
 * test_s3_topic.c - reading radosgw's GetTopic answer (the push endpoint
 * the watchdog compares with its own) and comparing push endpoints.  The
 * documents are radosgw 16.2.15's answers on the test store.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backends/s3/topic.h"

static const char get_topic[] =
    "<GetTopicResponse><GetTopicResult><Topic><User></User><Name>mpfs-d34252e7fd9ed4f5</Name>"
    "<EndPoint><EndpointAddress>http://127.0.0.1:42795</EndpointAddress>"
    "<EndpointArgs>persistent=false&amp;push-endpoint=http://127.0.0.1:42795</EndpointArgs>"
    "<EndpointTopic>mpfs-d34252e7fd9ed4f5</EndpointTopic><HasStoredSecret>False"
    "</HasStoredSecret><Persistent>False</Persistent></EndPoint>"
    "<TopicArn>arn:aws:sns:default::mpfs-d34252e7fd9ed4f5</TopicArn><OpaqueData></OpaqueData>"
    "</Topic></GetTopicResult><ResponseMetadata><RequestId>b595b227-ff6f-4788-a05d-"
    "77ddf7509822.4112.6924369079653213334</RequestId></ResponseMetadata></GetTopicResponse>";

static void test_endpoint_of_topic(void **state)
{
    (void)state;
    char ep[256];
    assert_int_equal(mpfs_s3_topic_parse_endpoint(get_topic, strlen(get_topic), ep, sizeof(ep)), 0);
    assert_string_equal(ep, "http://127.0.0.1:42795");
    /* does not fit: said, not cut */
    char small[10];
    assert_int_equal(
        mpfs_s3_topic_parse_endpoint(get_topic, strlen(get_topic), small, sizeof(small)),
        -ENAMETOOLONG);
}

static void test_topic_without_endpoint(void **state)
{
    (void)state;
    static const char doc[] =
        "<GetTopicResponse><GetTopicResult><Topic><User></User><Name>t</Name><EndPoint>"
        "<EndpointAddress></EndpointAddress><EndpointArgs></EndpointArgs></EndPoint>"
        "<TopicArn>arn:aws:sns:default::t</TopicArn></Topic></GetTopicResult>"
        "</GetTopicResponse>";
    char ep[64] = "x";
    assert_int_equal(mpfs_s3_topic_parse_endpoint(doc, strlen(doc), ep, sizeof(ep)), 0);
    assert_string_equal(ep, "");
    static const char no_ep[] = "<GetTopicResponse><GetTopicResult><Topic><Name>t</Name>"
                                "<TopicArn>arn:aws:sns:default::t</TopicArn></Topic>"
                                "</GetTopicResult></GetTopicResponse>";
    strcpy(ep, "x");
    assert_int_equal(mpfs_s3_topic_parse_endpoint(no_ep, strlen(no_ep), ep, sizeof(ep)), 0);
    assert_string_equal(ep, "");
}

static void test_not_a_topic(void **state)
{
    (void)state;
    char ep[64];
    static const char err[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>"
                              "NoSuchEntity</Code><Message></Message></Error>";
    assert_int_equal(mpfs_s3_topic_parse_endpoint(err, strlen(err), ep, sizeof(ep)), -EIO);
    assert_int_equal(mpfs_s3_topic_parse_endpoint("<a><b>", 6, ep, sizeof(ep)), -EIO);
    assert_int_equal(mpfs_s3_topic_parse_endpoint("", 0, ep, sizeof(ep)), -EIO);
}

static void test_endpoint_same(void **state)
{
    (void)state;
    assert_true(mpfs_s3_push_endpoint_same("http://127.0.0.1:42795", "http://127.0.0.1:42795"));
    assert_false(mpfs_s3_push_endpoint_same("http://127.0.0.1:42795", "http://127.0.0.1:1"));
    assert_false(mpfs_s3_push_endpoint_same("http://127.0.0.1:1", "http://127.0.0.1:12"));
    assert_false(mpfs_s3_push_endpoint_same("http://127.0.0.1:1", "amqp://127.0.0.1:1"));
    assert_false(mpfs_s3_push_endpoint_same("", "http://127.0.0.1:1"));
    /* a hidden or changed secret is still the same destination */
    assert_true(
        mpfs_s3_push_endpoint_same("amqp://u:secret@broker:5672/vh", "amqp://broker:5672/vh"));
    assert_true(mpfs_s3_push_endpoint_same("amqp://u:a@broker:5672", "amqp://u:b@broker:5672"));
    assert_false(mpfs_s3_push_endpoint_same("amqp://broker:5672/vh", "amqp://broker:5672/other"));
    /* an '@' after the path is not user information */
    assert_false(mpfs_s3_push_endpoint_same("http://h:1/a@b", "http://b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_of_topic),
        cmocka_unit_test(test_topic_without_endpoint),
        cmocka_unit_test(test_not_a_topic),
        cmocka_unit_test(test_endpoint_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
