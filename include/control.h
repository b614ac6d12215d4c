/*
 * control.h - asking a running teamsfs to do something, through the mount.
 *
 * "teamsfs refresh PATH..." opens each PATH inside a teamsfs mount and
 * sends it the refresh ioctl; teamsfs refreshes the scope the path lies in
 * (or, at the mount root, the users and teams lists, marking every scope
 * due) and answers when that is done.  An ioctl works on a read-only mount
 * and needs no socket or pid file: the path says which mount and which
 * scope.
 */
#ifndef TEAMSFS_CONTROL_H
#define TEAMSFS_CONTROL_H

#include <sys/ioctl.h>

/* 'Z' 0x51: a number no kernel layer handles itself (_IO('T', 0x51) is
 * FIOCLEX, which never reaches a filesystem). */
#define TEAMSFS_IOC_REFRESH _IO('Z', 0x51)

/*
 * Runs "teamsfs refresh PATH..." with @argc and @argv starting at
 * "refresh".  Returns the exit status: 0 when every path was refreshed.
 */
int control_refresh_main(int argc, char **argv);

#endif
