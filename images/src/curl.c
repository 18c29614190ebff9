/*
 * A small stand-in for curl: HTTP/1.1 GET (and friends) over plain TCP, enough
 * for what the Kubernetes tutorials run inside a container, e.g.
 *     curl http://localhost:8080      curl -s URL      curl -fsSL -o FILE URL
 * Supported options: -s -S -f -i -I -v -L -o FILE -m SECS -X METHOD -H HEADER
 * -d DATA. No TLS. Exit codes follow curl's (3 bad URL, 6 resolve, 7 connect,
 * 22 HTTP error with -f, 28 timeout, 56 receive error).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int silent, show_error, fail_http, include_hdr, head_only, verbose, follow;
static const char *out_path, *method, *data;
static const char *headers[32];
static int nheaders;
static long max_time;

static int die(int code, const char *fmt, const char *a, const char *b)
{
	if (!silent || show_error) {
		fprintf(stderr, "curl: (%d) ", code);
		fprintf(stderr, fmt, a, b);
		fputc('\n', stderr);
	}
	return code;
}

struct url {
	char host[256], port[16], path[2048];
};

/* Accepts [http://]host[:port][/path] with host possibly an [IPv6] literal. */
static int parse_url(const char *s, struct url *u)
{
	const char *p = strstr(s, "://");
	if (p) {
		if ((size_t)(p - s) != 4 || strncasecmp(s, "http", 4) != 0) {
			char scheme[16];
			snprintf(scheme, sizeof scheme, "%.*s", (int)(p - s), s);
			return die(1, "Protocol \"%s\" not supported%s", scheme, "");
		}
		s = p + 3;
	}
	const char *path = strchr(s, '/');
	size_t hl = path ? (size_t)(path - s) : strlen(s);
	char hp[256];
	if (hl == 0 || hl >= sizeof hp)
		return 3;
	memcpy(hp, s, hl);
	hp[hl] = '\0';
	snprintf(u->path, sizeof u->path, "%s", path ? path : "/");
	snprintf(u->port, sizeof u->port, "80");
	char *colon;
	if (hp[0] == '[') {
		char *end = strchr(hp, ']');
		if (!end)
			return 3;
		*end = '\0';
		snprintf(u->host, sizeof u->host, "%s", hp + 1);
		colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strrchr(hp, ':');
		if (colon)
			*colon = '\0';
		snprintf(u->host, sizeof u->host, "%s", hp);
	}
	if (colon && colon[1])
		snprintf(u->port, sizeof u->port, "%s", colon + 1);
	return 0;
}

static int dial(const struct url *u)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	/* Like real curl, localhost never depends on /etc/hosts being there. */
	const char *name = strcasecmp(u->host, "localhost") == 0 ? "127.0.0.1" : u->host;
	int rc = getaddrinfo(name, u->port, &hints, &res);
	if (rc != 0)
		return -die(6, "Could not resolve host: %s%s", u->host, "");
	int fd = -1, err = 0;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (max_time > 0) {
			struct timeval tv = { .tv_sec = max_time };
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		char what[300];
		snprintf(what, sizeof what, "%s port %s", u->host, u->port);
		return -die(err == EINPROGRESS || err == EAGAIN ? 28 : 7,
			    "Failed to connect to %s: %s", what, strerror(err));
	}
	return fd;
}

/* Reads the whole response; the request asked the server to close after it. */
static char *slurp(int fd, size_t *len, int *code)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf) {
			*code = 27;
			return NULL;
		}
		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
			continue;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*code = errno == EAGAIN ? 28 : 56;
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Undoes Transfer-Encoding: chunked in place; returns the decoded length. */
static size_t dechunk(char *b, size_t n)
{
	size_t in = 0, out = 0;
	while (in < n) {
		char *end;
		unsigned long sz = strtoul(b + in, &end, 16);
		char *nl = strstr(end, "\r\n");
		if (!nl || sz == 0)
			break;
		in = (size_t)(nl + 2 - b);
		if (sz > n - in)
			sz = n - in;
		memmove(b + out, b + in, sz);
		out += sz;
		in += sz + 2;
	}
	return out;
}

static const char *header_value(const char *head, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
			p += 3 + nl;
			while (*p == ' ')
				p++;
			return p;
		}
	return NULL;
}

static int fetch(const char *url_s, FILE *out, int hops)
{
	struct url u;
	int rc = parse_url(url_s, &u);
	if (rc)
		return rc == 3 ? die(3, "URL rejected: Malformed input to a URL function%s%s", "", "") : rc;
	int fd = dial(&u);
	if (fd < 0)
		return -fd;

	const char *m = method ? method : head_only ? "HEAD" : data ? "POST" : "GET";
	char req[8192];
	int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s%s%s\r\n"
			 "User-Agent: curl/8.0.0 (rkube)\r\nAccept: */*\r\nConnection: close\r\n",
			 m, u.path, u.host, strcmp(u.port, "80") ? ":" : "",
			 strcmp(u.port, "80") ? u.port : "");
	for (int i = 0; i < nheaders && n < (int)sizeof req; i++)
		n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", headers[i]);
	if (data && n < (int)sizeof req)
		n += snprintf(req + n, sizeof req - (size_t)n,
			      "Content-Type: application/x-www-form-urlencoded\r\n"
			      "Content-Length: %zu\r\n", strlen(data));
	if (n >= (int)sizeof req - 2)
		return die(2, "request headers too long%s%s", "", "");
	n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
	if (verbose)
		fprintf(stderr, "> %.*s", n, req);
	if (write(fd, req, (size_t)n) != n || (data && write(fd, data, strlen(data)) < 0))
		return die(55, "Failed sending data to the peer%s%s", "", "");

	size_t len;
	int code = 0;
	char *resp = slurp(fd, &len, &code);
	close(fd);
	if (!resp)
		return die(code, "%s%s", code == 28 ? "Operation timed out" : "Recv failure", "");
	char *sep = strstr(resp, "\r\n\r\n");
	int status = 0;
	if (!sep || sscanf(resp, "HTTP/%*s %d", &status) != 1) {
		free(resp);
		return die(8, "Weird server reply%s%s", "", "");
	}
	*sep = '\0';
	char *body = sep + 4;
	size_t blen = len - (size_t)(body - resp);
	const char *te = header_value(resp, "Transfer-Encoding");
	if (te && strncasecmp(te, "chunked", 7) == 0)
		blen = dechunk(body, blen);
	if (verbose)
		fprintf(stderr, "< %s\n", resp);

	const char *loc = header_value(resp, "Location");
	if (follow && status >= 300 && status < 400 && loc && hops < 10) {
		char next[2300];
		size_t ll = strcspn(loc, "\r\n");
		if (loc[0] == '/')
			snprintf(next, sizeof next, "http://%s:%s%.*s", u.host, u.port, (int)ll, loc);
		else
			snprintf(next, sizeof next, "%.*s", (int)ll, loc);
		free(resp);
		return fetch(next, out, hops + 1);
	}
	if (fail_http && status >= 400) {
		free(resp);
		char st[16];
		snprintf(st, sizeof st, "%d", status);
		return die(22, "The requested URL returned error: %s%s", st, "");
	}
	if (include_hdr || head_only)
		fprintf(out, "%s\r\n\r\n", resp);
	if (!head_only && fwrite(body, 1, blen, out) != blen)
		code = 23;
	free(resp);
	return code;
}

static const char *need_arg(int *i, int argc, char **argv, const char **rest)
{
	if (*rest && **rest) {
		const char *v = *rest;
		*rest = NULL;
		return v;
	}
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (a[0] != '-' || !a[1]) {
			url = a;
			continue;
		}
		if (a[1] == '-') {
			static const char *longs[][2] = {
				{ "--silent", "s" }, { "--show-error", "S" }, { "--fail", "f" },
				{ "--include", "i" }, { "--head", "I" }, { "--verbose", "v" },
				{ "--location", "L" }, { "--output", "o" }, { "--max-time", "m" },
				{ "--request", "X" }, { "--header", "H" }, { "--data", "d" },
				{ "--connect-timeout", "m" },
			};
			const char *s = NULL;
			for (size_t k = 0; k < sizeof longs / sizeof longs[0]; k++)
				if (strcmp(a, longs[k][0]) == 0)
					s = longs[k][1];
			if (!s) {
				fprintf(stderr, "curl: option %s: is unknown\n", a);
				return 2;
			}
			static char buf[3] = "-";
			buf[1] = s[0];
			a = buf;
		}
		for (const char *f = a + 1; f && *f; f++) {
			const char *rest = f + 1;
			switch (*f) {
			case 's': silent = 1; continue;
			case 'S': show_error = 1; continue;
			case 'f': fail_http = 1; continue;
			case 'i': include_hdr = 1; continue;
			case 'I': head_only = 1; continue;
			case 'v': verbose = 1; continue;
			case 'L': follow = 1; continue;
			case 'o': case 'm': case 'X': case 'H': case 'd':
				v = need_arg(&i, argc, argv, &rest);
				if (!v) {
					fprintf(stderr, "curl: option -%c: requires parameter\n", *f);
					return 2;
				}
				if (*f == 'o') out_path = v;
				else if (*f == 'm') max_time = atol(v);
				else if (*f == 'X') method = v;
				else if (*f == 'd') data = v;
				else if (nheaders < 32) headers[nheaders++] = v;
				f = NULL; /* the rest of this word was the argument */
				break;
			default:
				fprintf(stderr, "curl: option -%c: is unknown\n", *f);
				return 2;
			}
			if (!f)
				break;
		}
	}
	if (!url) {
		fprintf(stderr, "curl: no URL specified\nUsage: curl [-sSfiIvL] [-o FILE] [-m SECS] [-X METHOD] [-H HEADER] [-d DATA] URL\n");
		return 2;
	}
	FILE *out = stdout;
	if (out_path && strcmp(out_path, "-") != 0 && !(out = fopen(out_path, "wb")))
		return die(23, "Failed creating file %s: %s", out_path, strerror(errno));
	int rc = fetch(url, out, 0);
	if (fclose(out) != 0 && rc == 0)
		rc = 23;
	return rc;
}
