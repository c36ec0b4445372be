/* fdpass.h: a frame with one descriptor attached (SCM_RIGHTS) */
#ifndef FDPASS_H
#define FDPASS_H

#include <stdint.h>

#include "frame.h"

/*
 * The only place a descriptor crosses a socket: the spawner hands the
 * supervisor its end of a new worker's socketpair.  Every other frame
 * travels with frame_send()/frame_recv(), which never accept one.
 */

/* Send one frame with fd attached (fd == -1: none).  0, or -1 with
 * errno.  The caller still owns fd and closes it. */
int
fdpass_send(int sock, uint16_t type, uint32_t seq, const void *payload, int fd);
/* Receive one datagram into buf[FRAME_MAX] and parse its header, like
 * frame_recv(); *fd gets an attached descriptor (close-on-exec), or -1.
 * More than one descriptor, or a truncated control message, closes
 * whatever arrived and returns FRAME_ERR_FD.  The caller owns *fd. */
int fdpass_recv(int sock, uint8_t *buf, struct frame *f, int *fd);

#endif /* FDPASS_H */
