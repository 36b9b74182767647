/*
 * t_errors.c - kevent() error handling: a descriptor that is not a kqueue
 * (pipe, regular file, socket, /dev/null, -1, closed fd) -> EBADF; idents
 * that are not open descriptors -> EBADF; unregistered (ident, filter) for
 * EV_DELETE/EV_ENABLE/EV_DISABLE/no flags -> ENOENT; unknown flag bits ->
 * EINVAL while the EV_SYSFLAGS bits are ignored; filters that exist but are
 * not implemented -> EOPNOTSUPP and filters out of range -> EINVAL; negative
 * counts -> EINVAL; bad changelist/eventlist/timeout pointers -> EFAULT;
 * invalid timespecs -> EINVAL (only looked at when nevents > 0); and how
 * a failed change is reported: an EV_ERROR entry when the eventlist has
 * room (other changes still applied), -1/errno when it has none.
 */
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kqtest.h"

/* A page that is not mapped. */
static void *unmapped_page(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	CHECK_OK(munmap(p, pg));
	return p;
}

TEST(errors_kevent_on_non_kqueue_fd)
{
	int kq = kq_new();
	int p[2], sv[2];
	struct kevent ev;
	struct timespec ts = { 0, 0 };
	char path[300];

	/* Positive control: the same call on a kqueue works. */
	CHECK_EQ(kevent(kq, NULL, 0, &ev, 1, &ts), 0);

	make_pipe(p);
	CHECK_ERR(kevent(p[0], NULL, 0, &ev, 1, &ts), EBADF);
	CHECK_ERR(kevent(p[1], NULL, 0, &ev, 1, &ts), EBADF);

	snprintf(path, sizeof(path), "%s/regular", tmp_dir());
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK_OK(f);
	CHECK_ERR(kevent(f, NULL, 0, &ev, 1, &ts), EBADF);

	make_unix_pair(SOCK_STREAM, sv);
	CHECK_ERR(kevent(sv[0], NULL, 0, &ev, 1, &ts), EBADF);

	int dn = open("/dev/null", O_RDWR);
	CHECK_OK(dn);
	CHECK_ERR(kevent(dn, NULL, 0, &ev, 1, &ts), EBADF);

	/* With a change to apply, too. */
	EV_SET(&ev, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kevent(dn, &ev, 1, NULL, 0, NULL), EBADF);
}

TEST(errors_kevent_on_bad_fd)
{
	int kq = kq_new();
	struct kevent ev;
	struct timespec ts = { 0, 0 };

	CHECK_EQ(kevent(kq, NULL, 0, &ev, 1, &ts), 0);
	CHECK_ERR(kevent(-1, NULL, 0, &ev, 1, &ts), EBADF);
	CHECK_ERR(kevent(-1, NULL, 0, NULL, 0, NULL), EBADF);
	CHECK_ERR(kevent(INT_MAX, NULL, 0, &ev, 1, &ts), EBADF);

	int kq2 = kq_new();
	CHECK_OK(close(kq2));
	CHECK_ERR(kevent(kq2, NULL, 0, &ev, 1, &ts), EBADF);
}

TEST(errors_add_bad_ident)
{
	int kq = kq_new();
	int p[2];
	const uintptr_t idents[] = {
		0,			/* replaced by a closed fd */
		100000,
		(uintptr_t)-1,
		(uintptr_t)INT_MAX + 1ul,
		(uintptr_t)INT_MAX,
	};

	make_pipe(p);
	int closed = dup(p[0]);
	CHECK_OK(closed);
	CHECK_OK(close(closed));

	for (size_t i = 0; i < sizeof(idents) / sizeof(idents[0]); i++) {
		uintptr_t id = i == 0 ? (uintptr_t)closed : idents[i];
		short filters[] = { EVFILT_READ, EVFILT_WRITE };

		for (int f = 0; f < 2; f++) {
			struct kevent ch, ev[2];

			errno = 0;
			int r = kev_change(kq, id, filters[f], EV_ADD, 0, 0,
					   NULL);
			CHECKF(r == -1 && errno == EBADF,
			       "EV_ADD ident %#llx filter %d: got %d/%s, "
			       "want -1/EBADF", (unsigned long long)id,
			       filters[f], r, kqt_errname(errno));

			/* With room in the eventlist: an EV_ERROR entry. */
			EV_SET(&ch, id, filters[f], EV_ADD, 0, 0,
			       (void *)0xfeed);
			r = kevent(kq, &ch, 1, ev, 2, NULL);
			CHECKF(r == 1, "got %d (%s)", r, kqt_errname(errno));
			CHECK_EQ(ev[0].ident, id);
			CHECK_EQ(ev[0].filter, filters[f]);
			CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
			CHECK_EQ(ev[0].data, EBADF);
			CHECK(ev[0].udata == (void *)0xfeed);
		}
	}
	kev_expect_empty(kq);
}

TEST(errors_not_registered_enoent)
{
	int kq = kq_new();
	int p[2];
	const unsigned short ops[] = { EV_DELETE, EV_ENABLE, EV_DISABLE, 0 };

	make_pipe(p);
	write_n(p[1], 1);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		errno = 0;
		int r = kev_change(kq, p[0], EVFILT_READ, ops[i], 0, 0, NULL);

		CHECKF(r == -1 && errno == ENOENT,
		       "flags 0x%x on an unregistered knote: %d/%s, want "
		       "-1/ENOENT", ops[i], r, kqt_errname(errno));
	}

	/* READ registered: WRITE on the same fd is still not registered. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		errno = 0;
		int r = kev_change(kq, p[0], EVFILT_WRITE, ops[i], 0, 0, NULL);

		CHECKF(r == -1 && errno == ENOENT,
		       "flags 0x%x on WRITE (READ registered): %d/%s, want "
		       "-1/ENOENT", ops[i], r, kqt_errname(errno));
	}
	/* And a different fd is not registered either. */
	CHECK_ERR(kev_change(kq, p[1], EVFILT_READ, EV_DELETE, 0, 0, NULL),
		  ENOENT);

	/* The EV_ERROR entry form carries ENOENT too. */
	struct kevent ch, ev[2];

	EV_SET(&ch, p[1], EVFILT_WRITE, EV_DELETE, 0, 0, (void *)3);
	CHECK_EQ(kevent(kq, &ch, 1, ev, 2, NULL), 1);
	CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
	CHECK_EQ(ev[0].data, ENOENT);
	CHECK_EQ(ev[0].ident, p[1]);
	CHECK_EQ(ev[0].filter, EVFILT_WRITE);
	CHECK(ev[0].udata == (void *)3);
}

TEST(errors_unknown_flag_bits)
{
	int kq = kq_new();
	int p[2];
	const unsigned short bad[] = { 0x0400, 0x0800 };

	make_pipe(p);
	write_n(p[1], 1);
	for (size_t i = 0; i < 2; i++) {
		CHECK_ERR(kev_change(kq, p[0], EVFILT_READ, EV_ADD | bad[i],
				     0, 0, NULL), EINVAL);
		/* Nothing was registered. */
		kev_expect_empty(kq);
		CHECK_ERR(kev_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0,
				     NULL), ENOENT);
	}
	/* On an existing knote too; the knote is left as it was. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	for (size_t i = 0; i < 2; i++)
		CHECK_ERR(kev_change(kq, p[0], EVFILT_READ, EV_ADD | bad[i],
				     0, 0, NULL), EINVAL);
	kev_expect(kq, p[0], EVFILT_READ, 0, NULL);
}

TEST(errors_sysflags_ignored)
{
	int kq = kq_new();
	int p[2];
	struct kevent ev[2];
	const unsigned short sys[] = { EV_EOF, EV_ERROR, EV_DROP, EV_FLAG1,
				       EV_SYSFLAGS };

	make_pipe(p);
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		int r = kev_change(kq, p[0], EVFILT_READ, EV_ADD | sys[i], 0,
				   0, NULL);

		CHECKF(r == 0, "EV_ADD|0x%x: %d/%s, want 0 (EV_SYSFLAGS are "
		       "ignored on input)", sys[i], r, kqt_errname(errno));
	}
	/* One knote, not reporting anything yet, no EOF or error flags. */
	kev_expect_empty(kq);
	write_n(p[1], 2);
	CHECK_EQ(kev_poll(kq, ev, 2), 1);
	CHECK_EQ(ev[0].ident, p[0]);
	CHECK_EQ(ev[0].data, 2);
	CHECKF((ev[0].flags & (EV_EOF | EV_ERROR)) == 0, "%s",
	       kev_str(&ev[0]));
	kev_add(kq, p[0], EVFILT_READ, EV_DELETE | EV_EOF | EV_ERROR, 0, 0,
		NULL);
	kev_expect_empty(kq);
}

TEST(errors_unimplemented_filters)
{
	int kq = kq_new();
	int p[2];

	make_pipe(p);
	const struct { short filter; uintptr_t ident; int64_t data;
		       const char *name; } f[] = {
		{ EVFILT_AIO, (uintptr_t)p[0], 0, "AIO" },
		{ EVFILT_PROCDESC, (uintptr_t)p[0], 0, "PROCDESC" },
		{ EVFILT_FS, 0, 0, "FS" },
		{ EVFILT_LIO, (uintptr_t)p[0], 0, "LIO" },
		{ EVFILT_SENDFILE, (uintptr_t)p[0], 0, "SENDFILE" },
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		errno = 0;
		int r = kev_change(kq, f[i].ident, f[i].filter, EV_ADD, 0,
				   f[i].data, NULL);

		CHECKF(r == -1 && errno == EOPNOTSUPP,
		       "EV_ADD EVFILT_%s: %d/%s, want -1/EOPNOTSUPP",
		       f[i].name, r, kqt_errname(errno));

		struct kevent ch, ev[2];
		EV_SET(&ch, f[i].ident, f[i].filter, EV_ADD, 0, f[i].data,
		       (void *)9);
		r = kevent(kq, &ch, 1, ev, 2, NULL);
		CHECKF(r == 1 && ev[0].flags == EV_ERROR &&
		       ev[0].data == EOPNOTSUPP,
		       "EVFILT_%s with an eventlist: r=%d %s", f[i].name, r,
		       r > 0 ? kev_str(&ev[0]) : kqt_errname(errno));
	}
	kev_expect_empty(kq);
}

TEST(errors_invalid_filters)
{
	int kq = kq_new();
	int p[2];
	const short bad[] = { 0, 1, -14, -100, 32767, -32768 };

	make_pipe(p);
	write_n(p[1], 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		int r = kev_change(kq, p[0], bad[i], EV_ADD, 0, 0, NULL);

		CHECKF(r == -1 && errno == EINVAL,
		       "EV_ADD filter %d: %d/%s, want -1/EINVAL", bad[i], r,
		       kqt_errname(errno));
	}
	kev_expect_empty(kq);
}

TEST(errors_negative_counts)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch, ev[2];
	struct timespec ts = { 0, 0 };

	make_pipe(p);
	EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kevent(kq, &ch, -1, ev, 2, &ts), EINVAL);
	CHECK_ERR(kevent(kq, NULL, 0, ev, -1, &ts), EINVAL);
	CHECK_ERR(kevent(kq, &ch, 1, ev, -1, &ts), EINVAL);
	CHECK_ERR(kevent(kq, &ch, INT_MIN, NULL, 0, NULL), EINVAL);
	CHECK_ERR(kevent(kq, NULL, 0, ev, INT_MIN, &ts), EINVAL);
	/* The kqueue still works. */
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);
	kev_expect(kq, p[0], EVFILT_READ, 0, NULL);
}

TEST(errors_efault_changelist)
{
	int kq = kq_new();
	struct kevent ev[2];
	struct timespec ts = { 0, 0 };

	CHECK_ERR(kevent(kq, (const struct kevent *)1, 1, ev, 2, &ts),
		  EFAULT);
	CHECK_ERR(kevent(kq, (const struct kevent *)1, 1, NULL, 0, NULL),
		  EFAULT);
	CHECK_ERR(kevent(kq, unmapped_page(), 1, ev, 2, &ts), EFAULT);
	CHECK_ERR(kevent(kq, unmapped_page(), 1, NULL, 0, NULL), EFAULT);
	CHECK_ERR(kevent(kq, NULL, 1, ev, 2, &ts), EFAULT);

	/* Half of the second change lies in an unmapped page. */
	long pg = sysconf(_SC_PAGESIZE);
	char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(two != MAP_FAILED);
	CHECK_OK(munmap(two + pg, pg));
	struct kevent *ch = (struct kevent *)(two + pg - sizeof(*ch) - 16);
	int p[2];
	make_pipe(p);
	EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kevent(kq, ch, 2, NULL, 0, NULL), EFAULT);

	/* The kqueue survives. */
	kev_expect_empty(kq);
}

TEST(errors_efault_eventlist)
{
	int kq = kq_new();
	int p[2];
	struct timespec ts = { 0, 0 };
	long pg = sysconf(_SC_PAGESIZE);

	make_pipe(p);
	kev_add(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	write_n(p[1], 1);

	CHECK_ERR(kevent(kq, NULL, 0, unmapped_page(), 1, &ts), EFAULT);
	CHECK_ERR(kevent(kq, NULL, 0, (struct kevent *)1, 1, &ts), EFAULT);

	void *ro = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			0);
	CHECK(ro != MAP_FAILED);
	CHECK_ERR(kevent(kq, NULL, 0, ro, 1, &ts), EFAULT);
	CHECK_ERR(kevent(kq, NULL, 0, ro, 4, NULL), EFAULT);

	/* Level-triggered: the event is still there for a good buffer. */
	kev_expect(kq, p[0], EVFILT_READ, 1000, NULL);
}

TEST(errors_efault_timeout)
{
	int kq = kq_new();
	struct kevent ev[2];

	CHECK_ERR(kevent(kq, NULL, 0, ev, 2, unmapped_page()), EFAULT);
	CHECK_ERR(kevent(kq, NULL, 0, ev, 2, (const struct timespec *)1),
		  EFAULT);
	kev_expect_empty(kq);
}

TEST(errors_invalid_timespec)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch, ev[2];
	const struct timespec bad[] = {
		{ 0, 1000000000 }, { 0, -1 }, { -1, 0 }, { 1, 1000000000 },
		{ -1, -1 },
	};

	make_pipe(p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		int r = kevent(kq, NULL, 0, ev, 2, &bad[i]);

		CHECKF(r == -1 && errno == EINVAL,
		       "timeout {%lld, %ld} with nevents 2: %d/%s, want "
		       "-1/EINVAL", (long long)bad[i].tv_sec, bad[i].tv_nsec,
		       r, kqt_errname(errno));
	}
	/* With nevents == 0 the timeout is not looked at. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, &bad[i]), 0);
	}
	EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_EQ(kevent(kq, &ch, 1, NULL, 0, &bad[0]), 0);
	write_n(p[1], 1);
	kev_expect(kq, p[0], EVFILT_READ, 0, NULL);
	/* The largest valid tv_nsec is fine. */
	const struct timespec ok = { 0, 999999999 };
	CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ok), 1);
}

TEST(errors_failed_change_entry_others_applied)
{
	int kq = kq_new();
	int p1[2], p2[2];
	struct kevent ch[3], ev[4];
	struct timespec ts = { 0, 0 };

	make_pipe(p1);
	make_pipe(p2);
	EV_SET(&ch[0], p1[0], EVFILT_READ, EV_ADD, 0, 0, (void *)1);
	EV_SET(&ch[1], 100000, EVFILT_READ, EV_ADD, 0, 0, (void *)2);
	EV_SET(&ch[2], p2[0], EVFILT_READ, EV_ADD, 0, 0, (void *)3);
	int r = kevent(kq, ch, 3, ev, 4, &ts);

	CHECKF(r == 1, "got %d (%s)", r, r < 0 ? kqt_errname(errno) : "");
	CHECK_EQ(ev[0].ident, 100000);
	CHECK_EQ(ev[0].filter, EVFILT_READ);
	CHECK_EQ_HEX(ev[0].flags, EV_ERROR);
	CHECK_EQ(ev[0].data, EBADF);
	CHECK(ev[0].udata == (void *)2);

	/* Both good changes were applied. */
	write_n(p1[1], 1);
	write_n(p2[1], 1);
	CHECK_EQ(kev_poll(kq, ev, 4), 2);
	CHECK(kev_find(ev, 2, p1[0], EVFILT_READ));
	CHECK(kev_find(ev, 2, p2[0], EVFILT_READ));
	CHECK(kev_find(ev, 2, p1[0], EVFILT_READ)->udata == (void *)1);
	CHECK(kev_find(ev, 2, p2[0], EVFILT_READ)->udata == (void *)3);
}

TEST(errors_several_failed_changes)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch[4], ev[8];

	make_pipe(p);
	EV_SET(&ch[0], 100000, EVFILT_READ, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[1], p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	EV_SET(&ch[2], p[0], 1, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[3], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	int r = kevent(kq, ch, 4, ev, 8, NULL);

	CHECKF(r == 3, "got %d (%s)", r, r < 0 ? kqt_errname(errno) : "");
	CHECK_EQ(ev[0].flags, EV_ERROR);
	CHECK_EQ(ev[0].data, EBADF);
	CHECK_EQ(ev[1].flags, EV_ERROR);
	CHECK_EQ(ev[1].data, ENOENT);
	CHECK_EQ(ev[2].flags, EV_ERROR);
	CHECK_EQ(ev[2].data, EINVAL);
	CHECK_EQ(ev[2].filter, 1);
	/* The last change was applied. */
	kev_add(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
}

TEST(errors_failed_change_no_room)
{
	int kq = kq_new();
	int p[2];
	struct kevent ch[2];

	make_pipe(p);
	EV_SET(&ch[0], 100000, EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kevent(kq, ch, 1, NULL, 0, NULL), EBADF);

	EV_SET(&ch[0], p[0], EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	CHECK_ERR(kevent(kq, ch, 1, NULL, 0, NULL), ENOENT);

	/* A good change then a bad one: -1/errno, the good one applied. */
	EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[1], 100000, EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHECK_ERR(kevent(kq, ch, 2, NULL, 0, NULL), EBADF);
	write_n(p[1], 1);
	kev_expect(kq, p[0], EVFILT_READ, 0, NULL);
}
