#include "demo.h"

const char *demo_greeting(void)
{
    return "libdemo " DEMO_VERSION;
}
