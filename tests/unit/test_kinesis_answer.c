/* The Kinesis answers the kinesis:// backend parses (stream_kinesis_answer.c),
 * from bodies shaped as kinesalite answers them and from damaged ones: what
 * is kept is safe to write into the journal and Redis keys and to compare,
 * what is not is refused with a code. Also the header babelcast puts
 * before a record's data. */
#include "stream/stream_kinesis_internal.h"
#include "test.h"
#include "util/err.h"
#include "util/log.h"

#define SEQ0 "49680770142408496753413833928446023143907810928303800338"
#define SEQ1 "49680770142408496753413833928447232069727425557478506514"
#define SHARD0 "shardId-000000000000"
#define SHARD1 "shardId-000000000001"
/* "\x01\x01" then 8 bytes of append_ms, then "hello 0" */
#define DATA0 "AQEAAAAAZUsSNGhlbGxvIDA="
#define DATA0_BYTES 17

static int shards(const char *body, struct kin_shard_info **out, size_t *n, char **next)
{
    return kin_answer_shards(body, strlen(body), out, n, next);
}

static void test_list_shards(void)
{
    struct kin_shard_info *s;
    size_t n;
    char *next;
    ASSERT_OK(shards("{\"Shards\":[{\"HashKeyRange\":{\"StartingHashKey\":\"0\"},\"ShardId\":\"" SHARD0
                     "\"},{\"ParentShardId\":\"" SHARD0 "\",\"ShardId\":\"" SHARD1 "\"}],"
                     "\"NextToken\":\"AAAA\"}",
                     &s, &n, &next));
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(s[0].id, SHARD0);
    ASSERT_STR_EQ(s[0].parent, "");
    ASSERT_STR_EQ(s[1].parent, SHARD0);
    ASSERT_STR_EQ(next, "AAAA");
    free(s);
    free(next);

    /* Ids that would break a journal line or a Redis key are left out; such
     * a parent reads as none. An empty NextToken ends the listing. */
    ASSERT_OK(shards("{\"Shards\":[{\"ShardId\":\"s 0\\nP x 1 0\"},{\"ShardId\":\"\"},{\"ShardId\":7},"
                     "{\"ShardId\":\"" SHARD1 "\",\"ParentShardId\":\"../x\","
                     "\"AdjacentParentShardId\":\"a b\"}],\"NextToken\":\"\"}",
                     &s, &n, &next));
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(s[0].id, SHARD1);
    ASSERT_STR_EQ(s[0].parent, "");
    ASSERT_STR_EQ(s[0].adjacent, "");
    ASSERT(next == NULL);
    free(s);

    ASSERT_EQ(shards("<html>", &s, &n, &next), BC_EIO);
    ASSERT_EQ(shards("[1,2]", &s, &n, &next), BC_EIO);
    ASSERT(s == NULL && n == 0 && next == NULL);
    ASSERT_OK(shards("{\"Shards\":{\"ShardId\":\"" SHARD0 "\"}}", &s, &n, &next));
    ASSERT_EQ(n, 0);
}

static int seqnum(const char *body, char out[KIN_SEQNUM_MAX])
{
    return kin_answer_seqnum(body, strlen(body), out);
}

static void test_put_record(void)
{
    char s[KIN_SEQNUM_MAX];
    ASSERT_OK(seqnum("{\"ShardId\":\"" SHARD1 "\",\"SequenceNumber\":\"" SEQ0 "\"}", s));
    ASSERT_STR_EQ(s, SEQ0);
    /* kin_seqnum_cmp compares by length first: anything but plain digits
     * without a leading zero would be misordered. */
    const char *bad[] = {"{\"SequenceNumber\":\"0x12\"}", "{\"SequenceNumber\":\"0049\"}",
                         "{\"SequenceNumber\":\"-1\"}", "{\"SequenceNumber\":\"\"}",
                         "{\"SequenceNumber\":12}", "{}", "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_EQ(seqnum(bad[i], s), BC_EIO);
        ASSERT_STR_EQ(s, "");
    }
    char body[KIN_SEQNUM_MAX + 64] = "{\"SequenceNumber\":\"";
    memset(body + strlen(body), '7', KIN_SEQNUM_MAX);
    strcat(body, "\"}");
    ASSERT_EQ(seqnum(body, s), BC_EIO);
    ASSERT(kin_seqnum_valid("0"));
}

static void test_shard_iterator(void)
{
    char *it;
    const char *ok = "{\"ShardIterator\":\"AAAAAAAAAAFnQE5O+/=\"}";
    ASSERT_OK(kin_answer_string("GetShardIterator", ok, strlen(ok), "ShardIterator", &it));
    ASSERT_STR_EQ(it, "AAAAAAAAAAFnQE5O+/=");
    free(it);
    const char *empty = "{\"ShardIterator\":\"\"}";
    ASSERT_EQ(kin_answer_string("GetShardIterator", empty, strlen(empty), "ShardIterator", &it),
              BC_EIO);
    ASSERT(it == NULL);
}

static int records(const char *body, struct kin_record **r, size_t *n, char **next)
{
    return kin_answer_records(body, strlen(body), r, n, next);
}

#define RECORD(seq, data) "{\"PartitionKey\":\"abcd234567\",\"Data\":\"" data "\",\"SequenceNumber\":\"" seq "\"}"

static void test_get_records(void)
{
    struct kin_record *r;
    size_t n;
    char *next;
    ASSERT_OK(records("{\"MillisBehindLatest\":0,\"NextShardIterator\":\"AAAA\",\"Records\":[" RECORD(
                          SEQ0, DATA0) "," RECORD(SEQ1, "") "]}",
                      &r, &n, &next));
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(r[0].seqnum, SEQ0);
    ASSERT_STR_EQ(r[0].key, "abcd234567");
    ASSERT_EQ(r[0].len, DATA0_BYTES);
    ASSERT(memcmp(r[0].data + r[0].len - 7, "hello 0", 7) == 0);
    ASSERT_EQ(r[1].len, 0);
    ASSERT_STR_EQ(next, "AAAA");
    kin_records_free(r, n);
    free(next);

    /* Data that is no canonical base64 is someone else's record: kept
     * empty, without a key. "At==" has bits set past its one byte. */
    const char *bad[] = {"AQEA AAA=", "A===", "AQ=A", "At==", "AQ", "AQE\\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"NextShardIterator\":null,\"Records\":[{\"PartitionKey\":\"abcd234567\","
                 "\"Data\":\"%s\",\"SequenceNumber\":\"" SEQ0 "\"}]}",
                 bad[i]);
        ASSERT_OK(records(body, &r, &n, &next));
        ASSERT_EQ(n, 1);
        if (r[0].data || r[0].key[0])
            TEST_FAIL_("Data \"%s\" was decoded", bad[i]);
        ASSERT(next == NULL);
        kin_records_free(r, n);
    }

    /* Out of order or repeated positions, a record without data or with a
     * bad sequence number: the answer is refused whole. */
    const char *refused[] = {
        "{\"Records\":[" RECORD(SEQ1, DATA0) "," RECORD(SEQ0, DATA0) "]}",
        "{\"Records\":[" RECORD(SEQ0, DATA0) "," RECORD(SEQ0, DATA0) "]}",
        "{\"Records\":[{\"SequenceNumber\":\"" SEQ0 "\"}]}",
        "{\"Records\":[" RECORD("12a", DATA0) "]}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ASSERT_EQ(records(refused[i], &r, &n, &next), BC_EFORMAT);
        ASSERT(r == NULL && n == 0 && next == NULL);
    }
    ASSERT_EQ(records("", &r, &n, &next), BC_EIO);
}

static int error(long status, const char *body, int *retry)
{
    return kin_answer_error("Op", status, body, strlen(body), retry);
}

static void test_errors(void)
{
    int retry;
    ASSERT_EQ(error(400, "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"Rate "
                         "exceeded\"}",
                    &retry),
              BC_EAGAIN);
    ASSERT_EQ(retry, 1);
    ASSERT_EQ(error(400, "{\"__type\":\"com.amazonaws.kinesis#LimitExceededException\"}", &retry),
              BC_EAGAIN);
    ASSERT_EQ(error(429, "", &retry), BC_EAGAIN);
    ASSERT_EQ(retry, 1);
    ASSERT_EQ(error(503, "<html>Service Unavailable</html>", &retry), BC_EIO);
    ASSERT_EQ(retry, 1);
    ASSERT_EQ(error(400, "{\"__type\":\"ExpiredIteratorException\"}", &retry), BC_ESTATE);
    ASSERT_EQ(retry, 0);
    ASSERT_EQ(error(400, "{\"__type\":\"ResourceNotFoundException\",\"message\":\"Stream nope\"}",
                    &retry),
              BC_ENOTFOUND);
    ASSERT_EQ(error(403, "{\"__type\":\"UnrecognizedClientException\"}", &retry), BC_EAUTH);
    ASSERT_EQ(error(400, "{\"__type\":\"InvalidArgumentException\"}", &retry), BC_EINVAL);
    ASSERT_EQ(retry, 0);
    ASSERT_EQ(error(302, "{\"__type\":7}", &retry), BC_EIO);
    ASSERT_EQ(retry, 0);
}

static void test_seqnum_cmp(void)
{
    const char *v[] = {"", "0", "9", "10", SEQ0, SEQ1};
    size_t n = sizeof v / sizeof v[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int c = kin_seqnum_cmp(v[i], v[j]);
            ASSERT_EQ(c, i < j ? -1 : i > j ? 1 : 0);
            ASSERT_EQ(c, -kin_seqnum_cmp(v[j], v[i]));
        }
    }
}

/* The header babelcast puts before a record's data reads back, whatever
 * the clock said (a time before 1970 has its top bit set). */
static void test_record_header(void)
{
    const int64_t times[] = {0, 1796220345533, -1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        uint8_t h[KIN_HEADER_BYTES + 1];
        kin_record_header(STREAM_KIND_SESSION_END, times[i], h);
        uint32_t kind;
        int64_t ms;
        ASSERT_OK(kin_record_header_parse(h, KIN_HEADER_BYTES, &kind, &ms));
        ASSERT_EQ(kind, STREAM_KIND_SESSION_END);
        ASSERT_EQ(ms, times[i]);
        ASSERT_EQ(kin_record_header_parse(h, KIN_HEADER_BYTES - 1, &kind, &ms), BC_EFORMAT);
        h[0]++;
        ASSERT_EQ(kin_record_header_parse(h, KIN_HEADER_BYTES, &kind, &ms), BC_EFORMAT);
    }
    uint32_t kind;
    int64_t ms;
    ASSERT_EQ(kin_record_header_parse(NULL, 0, &kind, &ms), BC_EFORMAT);
}

int main(void)
{
    bc_log_set_level(BC_LOG_QUIET);
    test_list_shards();
    test_put_record();
    test_shard_iterator();
    test_get_records();
    test_errors();
    test_seqnum_cmp();
    test_record_header();
    printf("kinesis_answer: all passed\n");
    return 0;
}
