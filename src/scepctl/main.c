/*
 * scepctl: the administrator's command line of scepd (docs/scepctl.md).
 */
#include "scepctl/scepctl.h"

#include <sys/stat.h>

int main(int argc, char **argv)
{
    /* Keys, the database and the directories made here are nobody else's business. */
    umask(077);
    return scepctl_main(argc, argv, stdout, stderr);
}
