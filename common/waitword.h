/*
 * waitword.h — a thread sleeps on a 32-bit word until another moves it (a
 * Linux futex, private to the process).  For wake-ups that must not make
 * the woken thread take a mutex again: the waker publishes what the sleeper
 * needs in atomics, moves the word, and wakes it; the sleeper reads the
 * atomics.  Both calls may return early (a signal, or a wake meant for an
 * earlier use of the word): the caller always looks again.
 */
#ifndef DRORCH_WAITWORD_H
#define DRORCH_WAITWORD_H

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Sleeps while *word == seen. */
static inline void waitword_wait(_Atomic uint32_t *word, uint32_t seen)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

/* Wakes every thread sleeping on word. */
static inline void waitword_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

#endif
