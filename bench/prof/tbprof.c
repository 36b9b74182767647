/*
 * tbprof.c - a QEMU TCG plugin that counts the guest instructions executed
 * per translation block between marks the guest program places itself:
 * an instruction profile of the whole guest (kernel, module and user
 * space) over exactly the region of interest.  tools/bench-profile.sh
 * builds it and loads it into QEMU (qemu-system-x86_64 -plugin).
 *
 * A mark is the 7-byte no-op "nopl 0x4b51MMNN(%rax)" (0f 1f 80 NN MM 51
 * 4b), which bench/profile.c emits with inline assembly.  MM is the
 * operation, NN an argument:
 *
 *   MM = 1  start: remember every block's count
 *   MM = 2  stop: add what every block executed since start to its total
 *   MM = 3  dump: write the totals to OUT.SEQ and zero them (SEQ counts
 *           the dumps from 0)
 *
 * OUT.SEQ has one line per block start address: "vaddr insns execs"
 * (instructions executed there, times the block ran).  Instruction counts
 * are an emulator-independent measure of work; they do not weigh cache
 * misses or atomics.  Counters are plain adds from every vCPU, so a
 * concurrent block on another vCPU may lose a count (the guest is idle but
 * for the profiled program).
 *
 * Plugin argument: out=PATH (default /tmp/tbprof).
 *
 * QEMU 7.2 plugin API (version 1); the few declarations needed are below
 * so that no QEMU headers are needed to build it:
 *   cc -shared -fPIC -O2 -o tbprof.so tbprof.c -lpthread
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the QEMU plugin API (include/qemu/qemu-plugin.h, version 1) --- */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id,
					       struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index,
					    void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb,
					      enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
					    qemu_plugin_vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags,
					    void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
				    qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb,
						 size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;
/* --- end of the API --- */

struct slot {
	uint64_t count;		/* incremented inline on every execution */
	uint64_t base;		/* count at the last start mark */
	uint64_t total;		/* executions between start and stop marks */
	uint64_t vaddr;
	uint64_t ninsns;
};

#define CHUNK		65536
#define MAX_CHUNKS	4096

static struct slot *chunks[MAX_CHUNKS];
static size_t nslots;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *out = "/tmp/tbprof";

static struct slot *new_slot(uint64_t vaddr, uint64_t ninsns)
{
	struct slot *s = NULL;

	pthread_mutex_lock(&lock);
	if (nslots < (size_t)CHUNK * MAX_CHUNKS) {
		size_t c = nslots / CHUNK;

		if (!chunks[c])
			chunks[c] = calloc(CHUNK, sizeof(struct slot));
		if (chunks[c]) {
			s = &chunks[c][nslots % CHUNK];
			s->vaddr = vaddr;
			s->ninsns = ninsns;
			nslots++;
		}
	}
	pthread_mutex_unlock(&lock);
	return s;
}

#define FOR_EACH_SLOT(s, i) \
	for (i = 0; i < nslots && ((s) = &chunks[i / CHUNK][i % CHUNK]); i++)

static int cmp_vaddr(const void *a, const void *b)
{
	const struct slot *x = *(struct slot *const *)a;
	const struct slot *y = *(struct slot *const *)b;

	return (x->vaddr > y->vaddr) - (x->vaddr < y->vaddr);
}

static void dump(void)
{
	static unsigned int seq;
	struct slot **v, *s;
	size_t i, n = 0;
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s.%u", out, seq++);
	f = fopen(path, "w");
	v = calloc(nslots ? nslots : 1, sizeof(*v));
	if (!f || !v) {
		fprintf(stderr, "tbprof: cannot write %s\n", path);
		if (f)
			fclose(f);
		free(v);
		return;
	}
	FOR_EACH_SLOT(s, i)
		if (s->total)
			v[n++] = s;
	qsort(v, n, sizeof(*v), cmp_vaddr);
	for (i = 0; i < n;) {
		uint64_t va = v[i]->vaddr, insns = 0, execs = 0;

		for (; i < n && v[i]->vaddr == va; i++) {
			insns += v[i]->total * v[i]->ninsns;
			execs += v[i]->total;
			v[i]->total = 0;
		}
		fprintf(f, "%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", va, insns,
			execs);
	}
	fclose(f);
	free(v);
}

static void mark(unsigned int vcpu, void *udata)
{
	unsigned int op = (uintptr_t)udata >> 8;
	struct slot *s;
	size_t i;

	(void)vcpu;
	pthread_mutex_lock(&lock);
	switch (op) {
	case 1:
		FOR_EACH_SLOT(s, i)
			s->base = s->count;
		break;
	case 2:
		FOR_EACH_SLOT(s, i)
			s->total += s->count - s->base;
		break;
	case 3:
		dump();
		break;
	}
	pthread_mutex_unlock(&lock);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;
	struct slot *s;

	(void)id;
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		const uint8_t *b = qemu_plugin_insn_data(insn);

		if (qemu_plugin_insn_size(insn) == 7 && b[0] == 0x0f &&
		    b[1] == 0x1f && b[2] == 0x80 && b[5] == 0x51 &&
		    b[6] == 0x4b)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, mark,
				QEMU_PLUGIN_CB_NO_REGS,
				(void *)(uintptr_t)(b[4] << 8 | b[3]));
	}
	s = new_slot(qemu_plugin_tb_vaddr(tb), n);
	if (s)
		qemu_plugin_register_vcpu_tb_exec_inline(tb,
			QEMU_PLUGIN_INLINE_ADD_U64, &s->count, 1);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
			       int argc, char **argv)
{
	int i;

	(void)info;
	for (i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			out = argv[i] + 4;
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	return 0;
}
