/* compromise.h: test builds only: act as an attacker inside the sandbox */
#ifndef COMPROMISE_H
#define COMPROMISE_H

#ifdef SE_TEST_HOOKS
/*
 * When $STABLE_EGRESSD_TEST_COMPROMISE names an attempt, make exactly
 * that attempt, once per process, from the calling (sandboxed) process
 * and print one line to stderr:
 *   compromise who=<who> attempt=<name> result=denied|allowed err=<...>
 * A call the filter forbids kills the process with SIGSYS instead; the
 * parent reports that.  Without the variable it does nothing.  Every
 * worker attacks, unless $STABLE_EGRESSD_TEST_COMPROMISE_WHO names the
 * one process that does (the only way to make the supervisor or the
 * spawner attack).
 */
void compromise_hook(const char *who);
#endif

#endif /* COMPROMISE_H */
