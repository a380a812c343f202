/* builtins.c — prints every built-in the compiler knows, one name a line,
 * from the elaboration tables (elab_libs), for tests/docs/check.py. */
#include "elab.h"

#include <stdio.h>

int main(void) {
    for (int t = 0; elab_libs[t]; t++)
        for (const builtin *b = elab_libs[t]; b->name; b++) printf("%s\n", b->name);
    return ferror(stdout) != 0;
}
