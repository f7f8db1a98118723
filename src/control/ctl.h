/*
 * ctl: `tcplb ctl [-s PATH] COMMAND...`, the admin socket's client, built
 * into the tcplb binary (argv[1] == "ctl").
 */
#ifndef TCPLB_CTL_H
#define TCPLB_CTL_H

/* argv[0] is "ctl".  Returns the exit status. */
int ctl_main(int argc, char **argv);

#endif
