/* epoll-based event thread with an eventfd to wake it for re-arming and for stopping. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event.h"

#define EVENT_MAX_SOURCES	16
#define WAKE_TAG		UINT64_MAX

struct event_source {
	int fd;			/* -1: free slot */
	event_fn fn;
	void *opaque;
	bool pollable;		/* epoll accepted it; otherwise always ready */
	bool armed;
};

struct event_loop {
	int epfd, wakefd;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	pthread_mutex_t lock;	/* sources[] */
	struct event_source src[EVENT_MAX_SOURCES];
	int tick_ms;
	event_fn tick_fn;
	void *tick_opaque;
};

static void wake(struct event_loop *l)
{
	uint64_t one = 1;

	while (write(l->wakefd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

struct event_loop *event_loop_create(void)
{
	struct event_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	for (int i = 0; i < EVENT_MAX_SOURCES; i++)
		l->src[i].fd = -1;
	l->tick_ms = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TAG };
	if (l->epfd < 0 || l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wakefd >= 0)
			close(l->wakefd);
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

void event_loop_destroy(struct event_loop *l)
{
	if (!l)
		return;
	event_loop_stop(l);
	for (int i = 0; i < EVENT_MAX_SOURCES; i++)
		if (l->src[i].fd >= 0)
			event_del_fd(l, l->src[i].fd);
	close(l->wakefd);
	close(l->epfd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static struct event_source *find_locked(struct event_loop *l, int fd)
{
	for (int i = 0; i < EVENT_MAX_SOURCES; i++)
		if (l->src[i].fd == fd)
			return &l->src[i];
	return NULL;
}

/* An armed pollable source is in the epoll set; a paused one is taken out of it, because epoll
 * reports hang-ups even for an empty event mask. */
static int watch_locked(struct event_loop *l, struct event_source *s, bool on)
{
	if (!s->pollable)
		return 0;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(s - l->src) };
	return epoll_ctl(l->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, s->fd, &ev);
}

int event_add_fd(struct event_loop *l, int fd, event_fn fn, void *opaque)
{
	pthread_mutex_lock(&l->lock);
	struct event_source *s = find_locked(l, -1);
	if (!s || find_locked(l, fd)) {
		pthread_mutex_unlock(&l->lock);
		return -1;
	}
	*s = (struct event_source){ .fd = fd, .fn = fn, .opaque = opaque, .pollable = true,
				    .armed = true };
	if (watch_locked(l, s, true) < 0) {
		if (errno != EPERM) {
			s->fd = -1;
			pthread_mutex_unlock(&l->lock);
			return -1;
		}
		s->pollable = false;	/* regular file or /dev/null: always readable */
	}
	pthread_mutex_unlock(&l->lock);
	wake(l);
	return 0;
}

void event_del_fd(struct event_loop *l, int fd)
{
	pthread_mutex_lock(&l->lock);
	struct event_source *s = find_locked(l, fd);
	if (s) {
		if (s->armed)
			watch_locked(l, s, false);
		s->fd = -1;
	}
	pthread_mutex_unlock(&l->lock);
}

void event_arm_fd(struct event_loop *l, int fd, bool armed)
{
	pthread_mutex_lock(&l->lock);
	struct event_source *s = find_locked(l, fd);
	if (s && s->armed != armed) {
		s->armed = armed;
		watch_locked(l, s, armed);
	}
	pthread_mutex_unlock(&l->lock);
	if (armed)
		wake(l);
}

void event_set_tick(struct event_loop *l, int interval_ms, event_fn fn, void *opaque)
{
	pthread_mutex_lock(&l->lock);
	l->tick_ms = interval_ms;
	l->tick_fn = fn;
	l->tick_opaque = opaque;
	pthread_mutex_unlock(&l->lock);
}

/* Runs the callback of slot i if it still holds the same armed source (callbacks may remove
 * or pause sources, their own included). */
static void dispatch(struct event_loop *l, int i, bool want_unpollable)
{
	pthread_mutex_lock(&l->lock);
	struct event_source s = l->src[i];
	pthread_mutex_unlock(&l->lock);
	if (s.fd >= 0 && s.armed && s.pollable != want_unpollable)
		s.fn(s.opaque);
}

static void *event_thread(void *arg)
{
	struct event_loop *l = arg;
	struct epoll_event evs[EVENT_MAX_SOURCES + 1];

	while (!atomic_load(&l->stop)) {
		pthread_mutex_lock(&l->lock);
		int timeout = l->tick_ms;
		for (int i = 0; i < EVENT_MAX_SOURCES; i++)
			if (l->src[i].fd >= 0 && l->src[i].armed && !l->src[i].pollable)
				timeout = 0;
		event_fn tick = l->tick_fn;
		void *tick_opaque = l->tick_opaque;
		pthread_mutex_unlock(&l->lock);

		int n = epoll_wait(l->epfd, evs, EVENT_MAX_SOURCES + 1, timeout);
		for (int k = 0; k < n; k++) {
			if (evs[k].data.u64 == WAKE_TAG) {
				uint64_t v;
				while (read(l->wakefd, &v, sizeof(v)) < 0 && errno == EINTR)
					;
				continue;
			}
			dispatch(l, (int)evs[k].data.u64, false);
		}
		for (int i = 0; i < EVENT_MAX_SOURCES && !atomic_load(&l->stop); i++)
			dispatch(l, i, true);
		if (tick)
			tick(tick_opaque);
	}
	return NULL;
}

int event_loop_start(struct event_loop *l)
{
	atomic_store(&l->stop, false);
	if (pthread_create(&l->thread, NULL, event_thread, l) != 0)
		return -1;
	l->running = true;
	return 0;
}

void event_loop_stop(struct event_loop *l)
{
	if (!l->running)
		return;
	atomic_store(&l->stop, true);
	wake(l);
	pthread_join(l->thread, NULL);
	l->running = false;
}
