/*
 * Reference TCP echo server in C: one thread, edge-triggered epoll,
 * non-blocking sockets, read then write back, no buffer kept per connection.
 * The practical limit for ping-pong echo on one core; the yardstick for
 * `duplex serve echo tcp://...` in scripts/bench-compare.sh.
 *
 *   gcc -O2 -o ref_epoll_echo benches/ref_epoll_echo.c
 *   ./ref_epoll_echo 127.0.0.1 0      # prints "listening PORT"
 *
 * A reply that cannot be written at once (the peer does not read) is
 * finished with blocking-style retries on EPOLLOUT; for ping-pong
 * benchmarks that never happens.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256

static char buf[65536];

/* Echoes everything readable on fd; returns -1 when the connection ends. */
static int echo(int fd) {
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(fd, buf + off, n - off);
            if (w < 0) {
                if (errno != EAGAIN)
                    return -1;
                /* Peer not reading: wait until writable (rare). */
                struct epoll_event ev = {0};
                int ep = epoll_create1(0);
                ev.events = EPOLLOUT;
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                epoll_wait(ep, &ev, 1, 5000);
                close(ep);
                continue;
            }
            off += w;
        }
        if ((size_t)n < sizeof buf)
            return 0; /* drained */
    }
}

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? atoi(argv[2]) : 0;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 1024)) {
        perror("bind/listen");
        return 1;
    }
    socklen_t len = sizeof addr;
    getsockname(ls, (struct sockaddr *)&addr, &len);
    printf("listening %d\n", ntohs(addr.sin_port));
    fflush(stdout);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLET, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
            } else if (echo(fd) < 0) {
                close(fd);
            }
        }
    }
}
