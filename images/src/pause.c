/*
 * Pause: the process that holds a pod sandbox's namespaces open.
 *
 * It sleeps until told to stop. As PID 1 of the pod's PID namespace (when the
 * namespace is shared) it also inherits orphans, so it reaps them on SIGCHLD
 * to keep zombies from piling up. PID 1 ignores signals that have no handler,
 * which is why SIGINT and SIGTERM get explicit handlers.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig)
{
	/* Only async-signal-safe calls in handlers. */
	static const char msg[] = "pause: shutting down\n";
	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	_exit(sig == SIGTERM || sig == SIGINT ? 0 : 1);
}

static void on_child(int sig)
{
	(void)sig;
	int saved = errno;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static int handle(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
	return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("pause (rkube) 3.9");
		return 0;
	}
	if (getpid() != 1)
		fprintf(stderr, "pause: warning: not running as PID 1\n");
	if (handle(SIGINT, on_stop) || handle(SIGTERM, on_stop) ||
	    handle(SIGCHLD, on_child)) {
		perror("pause: sigaction");
		return 1;
	}
	for (;;)
		pause();
	/* Not reached: the only way out is a signal handler. */
	return 42;
}
