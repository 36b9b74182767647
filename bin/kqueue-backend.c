/*
 * kqueue-backend - prints which backend a new kqueue gets in this
 * environment: "kmod" (the kernel module, /dev/kqueue) or "user" (the
 * user-space emulation).  Honours KQUEUE_BACKEND like every program linked
 * with libkqueue.  Exits 1, with the reason on stderr, if kqueue() fails.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/event.h>

int main(int argc, char **argv)
{
	int kq, b;

	if (argc > 1) {
		fprintf(stderr, "usage: %s\n"
			"  prints kmod or user: the backend kqueue() picks "
			"(KQUEUE_BACKEND=kmod|user forces one)\n", argv[0]);
		return 2;
	}
	kq = kqueue();
	if (kq < 0) {
		fprintf(stderr, "kqueue-backend: kqueue() failed: %s%s\n",
			strerror(errno), errno == ENOSYS ?
			" (kqueue.ko is not loaded)" : errno == EINVAL ?
			" (KQUEUE_BACKEND must be kmod or user)" : "");
		return 1;
	}
	b = kqueue_backend(kq);
	if (b < 0) {
		fprintf(stderr, "kqueue-backend: kqueue_backend(): %s\n",
			strerror(errno));
		return 1;
	}
	printf("%s\n", b == KQUEUE_BACKEND_KMOD ? "kmod" : "user");
	close(kq);
	return 0;
}
