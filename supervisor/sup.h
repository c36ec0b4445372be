/* sup.h: the supervisor process */
#ifndef SUP_H
#define SUP_H

/* Run the supervisor; returns the exit status (0, 1 or 2). */
int sup_main(int argc, char **argv);

#endif /* SUP_H */
