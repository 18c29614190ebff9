/*
 * nslookup for the offline images: resolves NAME through the C library resolver, so the
 * pod's /etc/resolv.conf search list and ndots apply (`nslookup kubernetes.default`
 * finds kubernetes.default.svc.cluster.local, as the tutorials expect; busybox's applet
 * queries the name only as given). Output follows busybox's layout:
 *
 *     Server:    10.96.0.10
 *     Address:   10.96.0.10:53
 *
 *     Name:      kubernetes.default.svc.cluster.local
 *     Address:   10.96.0.1
 *
 * A name that does not resolve prints "** server can't find NAME: NXDOMAIN" and exits 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static void print_server(void)
{
	FILE *f = fopen("/etc/resolv.conf", "r");
	char line[512], server[256] = "";
	if (f) {
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "nameserver %255s", server) == 1)
				break;
		fclose(f);
	}
	if (!server[0])
		snprintf(server, sizeof server, "127.0.0.1");
	printf("Server:\t\t%s\nAddress:\t%s:53\n\n", server, server);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: nslookup NAME\n");
		return 2;
	}
	const char *name = argv[1];
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	print_server();
	int rc = getaddrinfo(name, NULL, &hints, &res);
	if (rc != 0) {
		const char *why = (rc == EAI_NONAME || rc == EAI_NODATA) ? "NXDOMAIN" : gai_strerror(rc);
		printf("** server can't find %s: %s\n", name, why);
		return 1;
	}
	printf("Name:\t%s\n", res->ai_canonname ? res->ai_canonname : name);
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char buf[INET6_ADDRSTRLEN];
		const void *addr = ai->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		if (inet_ntop(ai->ai_family, addr, buf, sizeof buf))
			printf("Address: %s\n", buf);
	}
	freeaddrinfo(res);
	return 0;
}
