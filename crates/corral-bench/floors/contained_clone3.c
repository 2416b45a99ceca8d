/*
 * The kernel's floor for scenario 3 of `compare` (64 concurrent runs of /bin/true):
 * what the owner's CPU per run is when it does nothing but clone3 + waitid, with and
 * without what containment asks of the kernel (a pidfd, a cgroup per run). No
 * library, no runtime, no signal resets in the child: a floor, not a product.
 *
 *   cc -O2 -o /tmp/contained_clone3 crates/corral-bench/floors/contained_clone3.c
 *   /tmp/contained_clone3 ROUNDS /sys/fs/cgroup/unified   (the v2 mount; root)
 *
 * prints, for each of bare (CLONE_VM | CLONE_VFORK, as glibc's posix_spawn),
 * +pidfd (CLONE_PIDFD) and +cgroup (CLONE_INTO_CGROUP, each of the 64 runs of a
 * round into its own directory, emptied between rounds as corral's are): the
 * owner's CPU time per run (getrusage RUSAGE_SELF) and runs per second. x86_64 only.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
extern char **environ;
static char stack[64 * 1024] __attribute__((aligned(16)));

/* Runs in the child, on `stack`, sharing our memory until it execs. */
__attribute__((used)) void child_entry(void) {
    char *argv[] = {"/bin/true", 0};
    execve("/bin/true", argv, environ);
    _exit(127);
}

static double cpu_us(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void run(const char *name, unsigned long long flags, int rounds, const int *cgroups) {
    long pids[BATCH];
    int pidfds[BATCH];
    double c0 = cpu_us(), t0 = now_us();
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < BATCH; j++) {
            struct clone_args ca;
            memset(&ca, 0, sizeof ca);
            pidfds[j] = -1;
            ca.flags = flags;
            ca.pidfd = (unsigned long)&pidfds[j];
            ca.cgroup = cgroups ? cgroups[j] : 0;
            ca.exit_signal = SIGCHLD;
            ca.stack = (unsigned long)stack;
            ca.stack_size = sizeof stack;
            long pid;
            /* The child returns 0 on the new stack and calls child_entry at once. */
            __asm__ volatile("syscall\n\ttest %%rax, %%rax\n\tjnz 1f\n\tand $-16, %%rsp\n\tcall child_entry\n1:"
                             : "=a"(pid)
                             : "0"((long)SYS_clone3), "D"(&ca), "S"(sizeof ca)
                             : "rcx", "r11", "memory");
            if (pid < 0) {
                fprintf(stderr, "%s: clone3: %s\n", name, strerror((int)-pid));
                exit(1);
            }
            pids[j] = pid;
        }
        for (int j = 0; j < BATCH; j++) {
            siginfo_t si;
            waitid(P_PID, pids[j], &si, WEXITED);
            if (pidfds[j] >= 0) close(pidfds[j]);
        }
    }
    int n = rounds * BATCH;
    double cpu = (cpu_us() - c0) / n, wall = now_us() - t0;
    printf("%-8s owner CPU %5.1f µs per run, %6.0f runs/s\n", name, cpu, n / (wall / 1e6));
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ROUNDS CGROUP_V2_PARENT\n", argv[0]);
        return 2;
    }
    int rounds = atoi(argv[1]);
    char dirs[BATCH][512];
    int cgroups[BATCH];
    for (int j = 0; j < BATCH; j++) {
        snprintf(dirs[j], sizeof dirs[j], "%s/contained-floor-%d-%d", argv[2], (int)getpid(), j);
        if (mkdir(dirs[j], 0755) != 0 || (cgroups[j] = open(dirs[j], O_DIRECTORY | O_RDONLY | O_CLOEXEC)) < 0) {
            perror(dirs[j]);
            return 1;
        }
    }
    run("bare", CLONE_VM | CLONE_VFORK, rounds, NULL);
    run("+pidfd", CLONE_VM | CLONE_VFORK | CLONE_PIDFD, rounds, NULL);
    run("+cgroup", CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP, rounds, cgroups);
    for (int j = 0; j < BATCH; j++) {
        close(cgroups[j]);
        rmdir(dirs[j]);
    }
    return 0;
}
