/* The `scep` client: everything is in cli_*.c (scep_core). */
#include "scep/cli.h"

int main(int argc, char **argv)
{
    return scep_cli_main(argc, argv);
}
