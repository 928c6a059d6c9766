#include "util/serial.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/alloc.h"
#include "util/err.h"

struct serial_job {
    serial_job_fn fn;
    void *arg;
    struct serial_job *next;
};

/* The waiting jobs of one key; exists only while it has some. */
struct serial_lane {
    const void *key;
    struct serial_job *head, *tail;
    struct serial_lane *next;
};

struct serial {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct serial_lane *lanes; /* served in list order, from `turn` */
    struct serial_lane *turn;  /* the lane whose job runs next */
    size_t max_jobs, waiting;
    int running; /* a job is executing */
    int stopping;
    pthread_t thread;
};

/* Caller holds s->lock and s->waiting > 0. Takes the next job in turn. */
static struct serial_job *take_job(struct serial *s)
{
    struct serial_lane *lane = s->turn ? s->turn : s->lanes;
    struct serial_job *job = lane->head;
    lane->head = job->next;
    s->waiting--;
    s->turn = lane->next;
    if (!lane->head) {
        struct serial_lane **p = &s->lanes;
        while (*p != lane)
            p = &(*p)->next;
        *p = lane->next;
        free(lane);
    }
    return job;
}

static void *serial_main(void *arg)
{
    struct serial *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->waiting == 0 && !s->stopping)
            pthread_cond_wait(&s->wake, &s->lock);
        if (s->waiting == 0)
            break;
        struct serial_job *job = take_job(s);
        s->running = 1;
        pthread_mutex_unlock(&s->lock);
        job->fn(job->arg);
        free(job);
        pthread_mutex_lock(&s->lock);
        s->running = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int serial_new(size_t max_jobs, struct serial **out)
{
    *out = NULL;
    if (max_jobs == 0)
        return BC_EINVAL;
    struct serial *s = bc_calloc(1, sizeof *s);
    s->max_jobs = max_jobs;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (pthread_create(&s->thread, NULL, serial_main, s) != 0) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return BC_EIO;
    }
    *out = s;
    return 0;
}

/* Caller holds s->lock. */
static struct serial_lane *lane_for(struct serial *s, const void *key)
{
    struct serial_lane **p = &s->lanes;
    for (; *p; p = &(*p)->next) {
        if ((*p)->key == key)
            return *p;
    }
    *p = bc_calloc(1, sizeof **p);
    (*p)->key = key;
    return *p;
}

int serial_submit(struct serial *s, const void *key, serial_job_fn fn, void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        rc = BC_ECLOSED;
    } else if (s->waiting == s->max_jobs) {
        rc = BC_EAGAIN;
    } else {
        struct serial_job *job = bc_calloc(1, sizeof *job);
        job->fn = fn;
        job->arg = arg;
        struct serial_lane *lane = lane_for(s, key);
        if (lane->head)
            lane->tail->next = job;
        else
            lane->head = job;
        lane->tail = job;
        s->waiting++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

size_t serial_pending(struct serial *s)
{
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    size_t n = s->waiting + (size_t)s->running;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void serial_free(struct serial *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
