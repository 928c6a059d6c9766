/* Serial executor: order per key, turns between keys, bounds, and the jobs
 * left at free. */
#include <pthread.h>

#include "test.h"
#include "util/err.h"
#include "util/serial.h"
#include "util/timeutil.h"

#define JOBS_PER_PRODUCER 20000
#define PRODUCERS 2
#define RETRY_US 100
#define SMALL_QUEUE 4

struct record {
    pthread_mutex_t lock;
    int last[PRODUCERS];
    int out_of_order;
    int ran;
};

struct job {
    struct record *r;
    int producer, n;
};

static void record_job(void *arg)
{
    struct job *j = arg;
    pthread_mutex_lock(&j->r->lock);
    if (j->n != j->r->last[j->producer] + 1)
        j->r->out_of_order++;
    j->r->last[j->producer] = j->n;
    j->r->ran++;
    pthread_mutex_unlock(&j->r->lock);
    free(j);
}

struct producer {
    struct serial *s;
    struct record *r;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int n = 1; n <= JOBS_PER_PRODUCER; n++) {
        struct job *j = malloc(sizeof *j);
        *j = (struct job){p->r, p->id, n};
        while (serial_submit(p->s, &p->r->last[p->id], record_job, j) == BC_EAGAIN)
            bc_sleep_us(RETRY_US);
    }
    return NULL;
}

static void test_order_from_two_threads(void)
{
    struct serial *s = NULL;
    ASSERT_OK(serial_new(64, &s));
    static struct record r = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct producer p[PRODUCERS];
    pthread_t t[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){s, &r, i};
        ASSERT_EQ(pthread_create(&t[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    serial_free(s); /* runs what is still queued */
    ASSERT_EQ(r.ran, PRODUCERS * JOBS_PER_PRODUCER);
    ASSERT_EQ(r.out_of_order, 0);
}

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open, entered;
};

static void wait_at_gate(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    g->entered = 1;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void count_job(void *arg)
{
    (*(int *)arg)++;
}

/* Appends its letter to a log. */
struct logged {
    char *log;
    char letter;
};

static void log_job(void *arg)
{
    struct logged *l = arg;
    size_t n = strlen(l->log);
    l->log[n] = l->letter;
    l->log[n + 1] = '\0';
}

static void block_until_entered(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    while (!g->entered)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void open_gate(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void test_keys_take_turns(void)
{
    struct serial *s = NULL;
    ASSERT_OK(serial_new(SMALL_QUEUE * 2, &s));
    static struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    ASSERT_OK(serial_submit(s, &g, wait_at_gate, &g));
    block_until_entered(&g);
    static char log[16];
    static int key_a, key_b;
    static struct logged a1 = {log, 'a'}, a2 = {log, 'b'}, a3 = {log, 'c'}, b1 = {log, 'X'};
    ASSERT_OK(serial_submit(s, &key_a, log_job, &a1));
    ASSERT_OK(serial_submit(s, &key_a, log_job, &a2));
    ASSERT_OK(serial_submit(s, &key_a, log_job, &a3));
    ASSERT_OK(serial_submit(s, &key_b, log_job, &b1));
    open_gate(&g);
    serial_free(s);
    /* b's only job does not wait for all of a's. */
    ASSERT_STR_EQ(log, "aXbc");
}

static void test_bounded_queue(void)
{
    struct serial *s = NULL;
    ASSERT_EQ(serial_new(0, &s), BC_EINVAL);
    ASSERT_OK(serial_new(SMALL_QUEUE, &s));
    static struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    ASSERT_OK(serial_submit(s, &g, wait_at_gate, &g));
    block_until_entered(&g);
    /* The gate job runs; SMALL_QUEUE more fit, the next is refused. */
    int counted = 0;
    for (int i = 0; i < SMALL_QUEUE; i++)
        ASSERT_OK(serial_submit(s, &counted, count_job, &counted));
    ASSERT_EQ(serial_submit(s, &counted, count_job, &counted), BC_EAGAIN);
    ASSERT_EQ(serial_pending(s), SMALL_QUEUE + 1);
    open_gate(&g);
    serial_free(s);
    ASSERT_EQ(counted, SMALL_QUEUE);
    ASSERT_EQ(serial_pending(NULL), 0);
}

int main(void)
{
    test_order_from_two_threads();
    test_bounded_queue();
    test_keys_take_turns();
    printf("serial: ok\n");
    return 0;
}
