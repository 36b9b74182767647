/*
 * t_user.c - EVFILT_USER: ident is any number; NOTE_TRIGGER triggers the
 * knote with flags 0, with EV_ADD on an existing knote, or at
 * registration; NOTE_FFNOP / NOTE_FFAND / NOTE_FFOR / NOTE_FFCOPY combine
 * the low 24 bits of fflags into the saved fflags, which are reported
 * (never the control bits or NOTE_TRIGGER); every change stores its data,
 * which is reported; EV_CLEAR resets the trigger when it is reported (and
 * a change with EV_CLEAR resets it at once), without EV_CLEAR it is
 * reported at every call; EV_DISPATCH, EV_ONESHOT, EV_DISABLE; a trigger
 * from another thread wakes a thread blocked in kevent(); the knote
 * counter returns to its baseline.
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "kqtest.h"

#define NR_KN	"nr_knotes"

static void trigger(int kq, uintptr_t id, unsigned int fflags, int64_t data)
{
	kev_add(kq, id, EVFILT_USER, 0, NOTE_TRIGGER | fflags, data, NULL);
}

TEST(user_trigger_with_flags_zero)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, (void *)0x77);
	kev_expect_empty(kq);
	/* A change without NOTE_TRIGGER does not trigger it. */
	kev_add(kq, 1, EVFILT_USER, 0, NOTE_FFOR | 0x3, 0, NULL);
	kev_expect_empty(kq);
	trigger(kq, 1, 0, 0);
	kev_expect(kq, 1, EVFILT_USER, 0, &ev);
	CHECK_EQ(ev.filter, EVFILT_USER);
	CHECK(ev.udata == (void *)0x77);
	CHECK_EQ_HEX(ev.fflags, 0x3);
	CHECK(ev.flags & EV_CLEAR);
	CHECK_EQ(ev.flags & (EV_ERROR | EV_EOF), 0);
	kev_expect_empty(kq);
}

TEST(user_trigger_with_add)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 2, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_expect_empty(kq);
	kev_add(kq, 2, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, (void *)5);
	kev_expect(kq, 2, EVFILT_USER, 0, &ev);
	CHECK(ev.udata == (void *)5);
	kev_expect_empty(kq);
	/* A re-add without NOTE_TRIGGER does not trigger it. */
	kev_add(kq, 2, EVFILT_USER, EV_ADD, 0, 0, NULL);
	kev_expect_empty(kq);
}

TEST(user_trigger_at_registration)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 3, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER | 0x42,
		17, NULL);
	kev_expect(kq, 3, EVFILT_USER, 0, &ev);
	CHECK_EQ_HEX(ev.fflags, 0x42);
	CHECK_EQ(ev.data, 17);
	kev_expect_empty(kq);
	/* Registered without it: not triggered. */
	kev_add(kq, 4, EVFILT_USER, EV_ADD, 0x42, 0, NULL);
	kev_expect_empty(kq);
	/* Registered disabled with it: reported once enabled. */
	kev_add(kq, 5, EVFILT_USER, EV_ADD | EV_DISABLE | EV_CLEAR,
		NOTE_TRIGGER, 0, NULL);
	kev_expect_empty(kq);
	kev_add(kq, 5, EVFILT_USER, EV_ENABLE, 0, 0, NULL);
	kev_expect(kq, 5, EVFILT_USER, 0, NULL);
	kev_expect_empty(kq);
}

TEST(user_without_clear_stays_triggered)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 6, EVFILT_USER, EV_ADD, 0, 0, NULL);
	trigger(kq, 6, 0, 0);
	for (int i = 0; i < 4; i++) {
		kev_expect(kq, 6, EVFILT_USER, 0, &ev);
		CHECK_EQ(ev.flags & EV_CLEAR, 0);
	}
	/* A change with EV_CLEAR resets the trigger. */
	kev_add(kq, 6, EVFILT_USER, EV_CLEAR, 0, 0, NULL);
	kev_expect_empty(kq);
	trigger(kq, 6, 0, 0);
	kev_expect(kq, 6, EVFILT_USER, 0, NULL);
	kev_expect(kq, 6, EVFILT_USER, 0, NULL);
	/* NOTE_TRIGGER together with EV_CLEAR: the clear wins. */
	kev_add(kq, 6, EVFILT_USER, EV_CLEAR, NOTE_TRIGGER, 0, NULL);
	kev_expect_empty(kq);
}

TEST(user_with_clear_reported_once_per_trigger)
{
	int kq = kq_new();

	kev_add(kq, 7, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	for (int i = 0; i < 3; i++) {
		trigger(kq, 7, 0, 0);
		/* Several triggers before a report: one report. */
		trigger(kq, 7, 0, 0);
		kev_expect(kq, 7, EVFILT_USER, 0, NULL);
		kev_expect_empty(kq);
	}
}

TEST(user_fflags_operations)
{
	int kq = kq_new();
	struct kevent ev;
	const struct {
		unsigned int fflags;	/* NOTE_TRIGGER is added */
		unsigned int want;
	} step[] = {
		{ NOTE_FFNOP | 0xff0, 0x0f },		/* ignored */
		{ NOTE_FFAND | 0x0c, 0x0c },
		{ NOTE_FFOR | 0x30, 0x3c },
		{ NOTE_FFOR | 0x800000, 0x80003c },
		{ NOTE_FFAND | 0x80000f, 0x80000c },
		{ NOTE_FFCOPY | 0x101, 0x101 },
		{ NOTE_FFCOPY | NOTE_FFLAGSMASK, 0xffffff },
		{ NOTE_FFCOPY, 0 },
		{ NOTE_FFOR | 0x5, 0x5 },
		{ 0, 0x5 },				/* FFNOP */
	};

	kev_add(kq, 8, EVFILT_USER, EV_ADD | EV_CLEAR, 0x0f, 0, NULL);
	for (size_t i = 0; i < sizeof(step) / sizeof(step[0]); i++) {
		trigger(kq, 8, step[i].fflags, 0);
		kev_expect(kq, 8, EVFILT_USER, 0, &ev);
		CHECKF(ev.fflags == step[i].want, "step %zu (fflags 0x%x): "
		       "got 0x%x, want 0x%x", i, step[i].fflags, ev.fflags,
		       step[i].want);
		kev_expect_empty(kq);
	}
	/* Operations without a trigger change the saved value silently. */
	kev_add(kq, 8, EVFILT_USER, 0, NOTE_FFCOPY | 0x70, 0, NULL);
	kev_add(kq, 8, EVFILT_USER, 0, NOTE_FFAND | 0x30, 0, NULL);
	kev_expect_empty(kq);
	trigger(kq, 8, 0, 0);
	kev_expect(kq, 8, EVFILT_USER, 0, &ev);
	CHECK_EQ_HEX(ev.fflags, 0x30);
	/* So do EV_ADD, EV_DISABLE and EV_ENABLE changes. */
	kev_add(kq, 8, EVFILT_USER, EV_ADD, NOTE_FFOR | 0x1, 0, NULL);
	kev_add(kq, 8, EVFILT_USER, EV_DISABLE, NOTE_FFOR | 0x2, 0, NULL);
	kev_add(kq, 8, EVFILT_USER, EV_ENABLE, NOTE_FFOR | 0x4, 0, NULL);
	trigger(kq, 8, 0, 0);
	kev_expect(kq, 8, EVFILT_USER, 0, &ev);
	CHECK_EQ_HEX(ev.fflags, 0x37);
	/* Bits above the low 24 given at registration are not kept. */
	kev_add(kq, 9, EVFILT_USER, EV_ADD | EV_CLEAR,
		NOTE_FFOR | NOTE_TRIGGER | 0x9, 0, NULL);
	kev_expect(kq, 9, EVFILT_USER, 0, &ev);
	CHECK_EQ_HEX(ev.fflags, 0x9);
}

TEST(user_data_saved_by_every_change)
{
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 10, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 1234, NULL);
	trigger(kq, 10, 0, 1234);
	kev_expect(kq, 10, EVFILT_USER, 0, &ev);
	CHECK_EQ(ev.data, 1234);
	trigger(kq, 10, 0, -5);
	kev_expect(kq, 10, EVFILT_USER, 0, &ev);
	CHECK_EQ(ev.data, -5);
	/* As on FreeBSD, a change without NOTE_TRIGGER stores it too. */
	kev_add(kq, 10, EVFILT_USER, 0, 0, INT64_MAX, NULL);
	kev_expect_empty(kq);
	kev_add(kq, 10, EVFILT_USER, 0, NOTE_TRIGGER, INT64_MIN, NULL);
	kev_expect(kq, 10, EVFILT_USER, 0, &ev);
	CHECK_EQ(ev.data, INT64_MIN);
	/* Registration data is reported when triggered later. */
	kev_add(kq, 11, EVFILT_USER, EV_ADD, 0, 99, NULL);
	kev_add(kq, 11, EVFILT_USER, 0, NOTE_TRIGGER, 99, NULL);
	kev_expect(kq, 11, EVFILT_USER, 0, &ev);
	CHECK_EQ(ev.data, 99);
}

TEST(user_dispatch)
{
	int kq = kq_new();
	struct kevent ev;

	/* With EV_CLEAR: once per trigger; triggers while disabled wait. */
	kev_add(kq, 12, EVFILT_USER, EV_ADD | EV_DISPATCH | EV_CLEAR, 0, 0,
		NULL);
	trigger(kq, 12, 0, 0);
	kev_expect(kq, 12, EVFILT_USER, 0, &ev);
	CHECK(ev.flags & EV_DISPATCH);
	trigger(kq, 12, 0, 0);
	kev_expect_empty(kq);
	kev_add(kq, 12, EVFILT_USER, EV_ENABLE, 0, 0, NULL);
	kev_expect(kq, 12, EVFILT_USER, 0, NULL);
	kev_expect_empty(kq);
	kev_add(kq, 12, EVFILT_USER, EV_ENABLE, 0, 0, NULL);
	kev_expect_empty(kq);

	/* Without EV_CLEAR: still triggered when enabled again. */
	kev_add(kq, 13, EVFILT_USER, EV_ADD | EV_DISPATCH, 0, 0, NULL);
	trigger(kq, 13, 0, 0);
	kev_expect(kq, 13, EVFILT_USER, 0, NULL);
	kev_expect_empty(kq);
	kev_add(kq, 13, EVFILT_USER, EV_ENABLE, 0, 0, NULL);
	kev_expect(kq, 13, EVFILT_USER, 0, NULL);
	kev_expect_empty(kq);
}

TEST(user_oneshot)
{
	long long kn0 = counter_base(NR_KN);
	int kq = kq_new();
	struct kevent ev;

	kev_add(kq, 14, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	EXPECT_COUNTER(NR_KN, kn0 + 1);
	trigger(kq, 14, NOTE_FFCOPY | 0x1, 3);
	kev_expect(kq, 14, EVFILT_USER, 0, &ev);
	CHECK(ev.flags & EV_ONESHOT);
	CHECK_EQ_HEX(ev.fflags, 0x1);
	CHECK_EQ(ev.data, 3);
	EXPECT_COUNTER(NR_KN, kn0);
	kev_expect_empty(kq);
	CHECK_ERR(kev_change(kq, 14, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL),
		  ENOENT);
}

TEST(user_disabled_trigger_reported_on_enable)
{
	int kq = kq_new();

	kev_add(kq, 15, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	kev_add(kq, 15, EVFILT_USER, EV_DISABLE, 0, 0, NULL);
	trigger(kq, 15, 0, 0);
	kev_expect_empty(kq);
	kev_add(kq, 15, EVFILT_USER, EV_ENABLE, 0, 0, NULL);
	kev_expect(kq, 15, EVFILT_USER, 0, NULL);
	kev_expect_empty(kq);
	/* Deleted: gone, and triggering it is an error. */
	kev_add(kq, 15, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	CHECK_ERR(kev_change(kq, 15, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL),
		  ENOENT);
	kev_expect_empty(kq);
}

TEST(user_idents_independent)
{
	int kq = kq_new();
	int kq2 = kq_new();
	struct kevent ev[4];

	kev_add(kq, 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, (void *)10);
	kev_add(kq, UINTPTR_MAX, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0,
		(void *)11);
	kev_add(kq2, 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, (void *)12);
	/* 100000 is not a descriptor and need not be one. */
	kev_add(kq, 100000, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	trigger(kq, UINTPTR_MAX, 0, 0);
	CHECK_EQ(kev_poll(kq, ev, 4), 1);
	CHECK_EQ(ev[0].ident, UINTPTR_MAX);
	CHECK(ev[0].udata == (void *)11);
	kev_expect_empty(kq2);
	trigger(kq2, 0, 0, 0);
	kev_expect_empty(kq);
	CHECK_EQ(kev_poll(kq2, ev, 4), 1);
	CHECK(ev[0].udata == (void *)12);
	/* Triggering a knote that is not registered: ENOENT. */
	CHECK_ERR(kev_change(kq, 5, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL),
		  ENOENT);
}

struct blocked {
	int kq;
	int n;
	long long ms;
	struct kevent ev;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	struct timespec ts = { 10, 0 };
	long long t0 = now_ms();

	b->n = kevent(b->kq, NULL, 0, &b->ev, 1, &ts);
	b->ms = now_ms() - t0;
	return NULL;
}

TEST(user_trigger_wakes_other_thread)
{
	int kq = kq_new();
	struct blocked b = { .kq = kq, .n = -2 };
	pthread_t t;

	kev_add(kq, 20, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, (void *)20);
	CHECK_EQ(pthread_create(&t, NULL, blocked_main, &b), 0);
	sleep_ms(300);		/* let it block */
	trigger(kq, 20, NOTE_FFCOPY | 0xbeef, 8);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(b.n, 1);
	CHECK_EQ(b.ev.ident, 20);
	CHECK_EQ(b.ev.filter, EVFILT_USER);
	CHECK_EQ_HEX(b.ev.fflags, 0xbeef);
	CHECK_EQ(b.ev.data, 8);
	CHECK(b.ev.udata == (void *)20);
	CHECKF(b.ms >= 250 && b.ms < 9000, "woke after %lld ms", b.ms);

	/* poll(2) on the kqueue sees a trigger too. */
	struct pollfd pfd = { .fd = kq, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	trigger(kq, 20, 0, 0);
	CHECK_EQ(poll(&pfd, 1, 5000), 1);
	kev_expect(kq, 20, EVFILT_USER, 0, NULL);
}

/* About the module's counters: module only. */
TEST(user_counters_back_to_baseline)
{
	require_module_counters();
	enum { N = 200 };
	long long kn0 = read_counter(NR_KN);
	int kq = kq_new();

	for (int i = 0; i < N; i++)
		kev_add(kq, i, EVFILT_USER, EV_ADD | (i % 2 ? EV_CLEAR : 0),
			i % 3 ? NOTE_TRIGGER : 0, i, NULL);
	expect_counter(NR_KN, kn0 + N);
	for (int i = 0; i < N; i += 4)
		kev_add(kq, i, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	expect_counter(NR_KN, kn0 + N - N / 4);
	CHECK_OK(close(kq));
	expect_counter(NR_KN, kn0);
}
