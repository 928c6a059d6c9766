#include <stdio.h>

#include "config_build.h"

int main(void)
{
    printf("babelcast %s\n", BC_VERSION);
    return 0;
}
