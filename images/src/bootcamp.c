/*
 * A look-alike of the Kubernetes bootcamp sample app (originally a few lines
 * of Node.js): every HTTP request gets
 *     Hello Kubernetes bootcamp! | Running on: <hostname> | v=<APP_VERSION>
 * and a log line on stdout, in the same shape the original prints, so the
 * tutorial's `kubectl logs` output looks familiar.
 *
 * Listens on $PORT (default 8080). One thread per connection so a slow or
 * idle client cannot hold up probes and other requests.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef APP_VERSION
#define APP_VERSION 1
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

static char host[256];
static struct timespec started;
static atomic_ulong requests;

/* Node prints dates as ISO-8601 UTC with milliseconds; match that. */
static void iso_time(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;
	char base[24];
	gmtime_r(&ts->tv_sec, &tm);
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", base, (int)(ts->tv_nsec / 1000000) % 1000);
}

static void on_stop(int sig)
{
	(void)sig;
	_exit(0);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until the end of the request head; bodies are ignored. */
static int read_head(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got + 1 < len) {
		ssize_t r = read(fd, buf + got, len - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return 0;
	}
	return 0; /* oversized head: answer anyway, like a lenient server */
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char req[8192], body[512], resp[1024], now_s[64];
	struct timespec now;

	if (read_head(fd, req, sizeof req) == 0) {
		int head_only = strncmp(req, "HEAD ", 5) == 0;
		int blen = snprintf(body, sizeof body,
				    "Hello Kubernetes bootcamp! | Running on: %s | v=%s\n",
				    host, STR(APP_VERSION));
		int rlen = snprintf(resp, sizeof resp,
				    "HTTP/1.1 200 OK\r\n"
				    "Content-Type: text/plain\r\n"
				    "Content-Length: %d\r\n"
				    "Connection: close\r\n\r\n%s",
				    blen, head_only ? "" : body);
		write_all(fd, resp, (size_t)rlen);

		clock_gettime(CLOCK_REALTIME, &now);
		iso_time(&now, now_s, sizeof now_s);
		double up = (double)(now.tv_sec - started.tv_sec) +
			    (double)(now.tv_nsec - started.tv_nsec) / 1e9;
		printf("Running On: %s | Total Requests: %lu | App Uptime: %.3f seconds | Log Time: %s\n",
		       host, atomic_fetch_add(&requests, 1) + 1, up, now_s);
	}
	close(fd);
	return NULL;
}

static int listen_on(int family, int port)
{
	int fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1, zero = 0, rc;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (family == AF_INET6) {
		/* Dual-stack: also accept IPv4 clients on the same socket. */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
					   .sin6_port = htons((uint16_t)port),
					   .sin6_addr = IN6ADDR_ANY_INIT };
		rc = bind(fd, (struct sockaddr *)&a6, sizeof a6);
	} else {
		struct sockaddr_in a4 = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_ANY) };
		rc = bind(fd, (struct sockaddr *)&a4, sizeof a4);
	}
	if (rc != 0 || listen(fd, 128) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int main(void)
{
	const char *port_s = getenv("PORT");
	int port = port_s && *port_s ? atoi(port_s) : 8080;
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "bootcamp: invalid PORT %s\n", port_s);
		return 2;
	}

	/* The original reads $HOSTNAME, which the runtime sets to the pod name. */
	const char *h = getenv("HOSTNAME");
	if (h && *h)
		snprintf(host, sizeof host, "%s", h);
	else if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "unknown");

	/* Logs are read through a pipe: flush each line as it is written. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	/* As PID 1, SIGTERM would otherwise be ignored until the grace period ends. */
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);

	/* Prefer a dual-stack socket; fall back to IPv4 where IPv6 is off. */
	int ls = listen_on(AF_INET6, port);
	if (ls < 0)
		ls = listen_on(AF_INET, port);
	if (ls < 0) {
		perror("bootcamp: listen");
		return 1;
	}

	char start_s[64];
	clock_gettime(CLOCK_REALTIME, &started);
	iso_time(&started, start_s, sizeof start_s);
	printf("Kubernetes Bootcamp App Started At: %s | Running On:  %s \n\n", start_s, host);

	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0) {
			if (errno != EINTR)
				perror("bootcamp: accept");
			continue;
		}
		/* Drop clients that never finish their request. */
		struct timeval tv = { .tv_sec = 30 };
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, serve, (void *)(long)c) != 0)
			close(c);
		pthread_attr_destroy(&attr);
	}
}
